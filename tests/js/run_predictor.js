// node run_predictor.js BUILD_DIR SYMBOL PARAMS DIMS(JSON) < input values (text)
// Runs a model through mobile/web/brass_predictor.js over the WebAssembly build in BUILD_DIR;
// prints {"info", "shape", "output"} as JSON, or {"error"} (with exit status 1) on a BrassError.
'use strict';
const fs = require('fs');
const path = require('path');
const {BrassModel, BrassError} = require(path.join(__dirname, '..', '..', 'mobile', 'web', 'brass_predictor.js'));

async function main() {
  const [dir, symbol, params, dims] = process.argv.slice(2);
  const createBrassModule = require(path.resolve(dir, 'brass_predict.js'));
  const brass = await BrassModel.init(createBrassModule);
  const shape = JSON.parse(dims);
  const values = fs.readFileSync(0, 'utf8').trim().split(/\s+/).filter((v) => v.length).map(Number);
  try {
    const model = brass.load(fs.readFileSync(symbol, 'utf8'), fs.readFileSync(params));
    const pred = model.predictor({data: shape});
    pred.setInput('data', Float32Array.from(values));
    pred.forward();
    const out = pred.output(0);
    const again = pred.output(0);  // outputs read twice agree; dispose() frees both handles
    if (again.data.length !== out.data.length) throw new Error('output changed');
    pred.dispose();
    model.dispose();
    let reused = false;
    try {
      pred.forward();
    } catch (e) {
      reused = e instanceof BrassError;
    }
    console.log(JSON.stringify({info: brass.buildInfo(), numOutputs: 1, shape: out.shape,
                                output: Array.from(out.data), refusedAfterDispose: reused}));
  } catch (e) {
    if (!(e instanceof BrassError)) throw e;
    console.log(JSON.stringify({error: e.message}));
    process.exitCode = 1;
  }
}
main();
