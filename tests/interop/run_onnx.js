// Run an ONNX model with onnxruntime (npm onnxruntime-node, installed next to
// this file by tools/quickstart.sh test): reads {"dims": [...], "data": [...]}
// from the JSON file argv[3] as the input "input" and prints the output
// "logits" in the same form. Any failure exits non-zero.
const fs = require('fs');
const ort = require('onnxruntime-node');

(async () => {
  const [model, inputPath] = process.argv.slice(2);
  const input = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
  const session = await ort.InferenceSession.create(model);
  const x = new ort.Tensor('float32', Float32Array.from(input.data), input.dims);
  const out = await session.run({ input: x });
  const logits = out.logits;
  process.stdout.write(JSON.stringify({ dims: logits.dims, data: Array.from(logits.data) }));
})().catch((e) => {
  console.error(`run_onnx.js: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
