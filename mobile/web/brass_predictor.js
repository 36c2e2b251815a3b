// brass_predictor.js: the Brass predictor in the browser (or node), over the WebAssembly build
// of the two-file predictor. Build the module once with mobile/web/build.sh DIR (em++ -O2
// -fexceptions -DBRASS_NO_THREADS, modularized as createBrassModule; see docs/PREDICT.md),
// then, with the model's two files as bytes (fetch(), FileReader, fs.readFileSync):
//
//   const brass = await BrassModel.init(createBrassModule);
//   const model = brass.load(symbolJsonText, paramsBytes);
//   const pred = model.predictor({data: [1, 3, 224, 224]});
//   pred.setInput('data', float32Array);
//   pred.forward();
//   const {shape, data} = pred.output(0);          // data: a Float32Array copy
//   pred.dispose(); model.dispose();
//
// Every failure throws a BrassError with the predictor's message (the op, the argument and
// the shapes). Handles are freed by dispose(); a disposed object refuses further use.
'use strict';

class BrassError extends Error {
  constructor(message) {
    super(message);
    this.name = 'BrassError';
  }
}

const DTYPE_ARRAYS = {0: Float32Array, 1: Float64Array, 3: Uint8Array, 4: Int32Array, 5: Int8Array};

class BrassModel {
  // The module factory that the emscripten build exports (createBrassModule): returns an
  // object whose load() reads models.
  static async init(factory, options = {}) {
    const m = await factory(options);
    const c = (name, ret, args) => m.cwrap(name, ret, args);
    const api = {
      m,
      lastError: c('brass_predict_last_error', 'number', []),
      buildInfo: c('brass_predict_build_info', 'number', []),
      modelLoad: c('brass_model_load', 'number', ['number', 'number', 'number', 'number']),
      modelFree: c('brass_model_free', null, ['number']),
      create: c('brass_predictor_create', 'number',
                ['number', 'number', 'number', 'number', 'number', 'number', 'number', 'number', 'number', 'number']),
      setInput: c('brass_predictor_set_input', 'number', ['number', 'number', 'number', 'number']),
      forward: c('brass_predictor_forward', 'number', ['number']),
      numOutputs: c('brass_predictor_num_outputs', 'number', ['number', 'number']),
      outputInfo: c('brass_predictor_output_info', 'number', ['number', 'number', 'number', 'number', 'number', 'number']),
      getOutput: c('brass_predictor_get_output', 'number', ['number', 'number', 'number', 'number']),
      predFree: c('brass_predictor_free', null, ['number']),
      malloc: m._malloc,
      free: m._free,
    };
    return {
      buildInfo: () => m.UTF8ToString(api.buildInfo()),
      load: (symbolJson, params) => new BrassModel(api, symbolJson, params),
    };
  }

  constructor(api, symbolJson, params) {
    this.api = api;
    const bytes = params instanceof Uint8Array ? params : new Uint8Array(params);
    const scratch = new Scratch(api);
    try {
      const json = scratch.string(symbolJson);
      const p = scratch.bytes(bytes);
      const out = scratch.alloc(4);
      check(api, api.modelLoad(json, p, bytes.length, out), 'load');
      this.handle = api.m.getValue(out, 'i32');
    } finally {
      scratch.release();
    }
  }

  // A predictor for these input shapes ({name: [dims...]}); outputs: optional list of
  // internal output names (default: the model's heads).
  predictor(shapes, outputs = []) {
    if (!this.handle) throw new BrassError('BrassModel: used after dispose()');
    return new BrassPredictor(this, shapes, outputs);
  }

  dispose() {
    if (this.handle) this.api.modelFree(this.handle);
    this.handle = 0;
  }
}

class BrassPredictor {
  constructor(model, shapes, outputs) {
    const api = model.api;
    this.api = api;
    const names = Object.keys(shapes);
    const scratch = new Scratch(api);
    try {
      const namePtrs = scratch.alloc(4 * Math.max(names.length, 1));
      const indptr = scratch.alloc(8 * (names.length + 1));
      const dims = [].concat(...names.map((n) => shapes[n]));
      const dimPtr = scratch.alloc(8 * Math.max(dims.length, 1));
      let at = 0;
      names.forEach((n, i) => {
        api.m.setValue(namePtrs + 4 * i, scratch.string(n), 'i32');
        api.m.setValue(indptr + 8 * i, at, 'i64');
        at += shapes[n].length;
      });
      api.m.setValue(indptr + 8 * names.length, at, 'i64');
      dims.forEach((d, i) => api.m.setValue(dimPtr + 8 * i, d, 'i64'));
      const outPtrs = scratch.alloc(4 * Math.max(outputs.length, 1));
      outputs.forEach((n, i) => api.m.setValue(outPtrs + 4 * i, scratch.string(n), 'i32'));
      const out = scratch.alloc(4);
      check(api, api.create(model.handle, 1, 0, names.length, namePtrs, indptr, dimPtr, outputs.length,
                            outPtrs, out), 'predictor');
      this.handle = api.m.getValue(out, 'i32');
    } finally {
      scratch.release();
    }
  }

  // Copies a typed array (the input's dtype, exactly its size) into input `name`.
  setInput(name, array) {
    this.live();
    const scratch = new Scratch(this.api);
    try {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      check(this.api, this.api.setInput(this.handle, scratch.string(name), scratch.bytes(bytes), bytes.length),
            'setInput');
    } finally {
      scratch.release();
    }
  }

  forward() {
    this.live();
    check(this.api, this.api.forward(this.handle), 'forward');
  }

  get numOutputs() {
    this.live();
    const scratch = new Scratch(this.api);
    try {
      const out = scratch.alloc(4);
      check(this.api, this.api.numOutputs(this.handle, out), 'numOutputs');
      return this.api.m.getValue(out, 'i32');
    } finally {
      scratch.release();
    }
  }

  // Output i: {name, shape, dtype, data} with data a typed array copy of its values.
  output(i) {
    this.live();
    const api = this.api;
    const m = api.m;
    const scratch = new Scratch(api);
    try {
      const name = scratch.alloc(4), ndim = scratch.alloc(4), shape = scratch.alloc(4), dtype = scratch.alloc(4);
      check(api, api.outputInfo(this.handle, i, name, ndim, shape, dtype), 'output');
      const nd = m.getValue(ndim, 'i32'), sp = m.getValue(shape, 'i32'), dt = m.getValue(dtype, 'i32');
      const dims = [];
      for (let d = 0; d < nd; ++d) dims.push(Number(m.getValue(sp + 8 * d, 'i64')));
      const Arr = DTYPE_ARRAYS[dt];
      if (!Arr) throw new BrassError('output ' + i + ': dtype code ' + dt + ' has no typed array here');
      const count = dims.reduce((a, b) => a * b, 1);
      const buf = scratch.alloc(count * Arr.BYTES_PER_ELEMENT);
      check(api, api.getOutput(this.handle, i, buf, count * Arr.BYTES_PER_ELEMENT), 'output');
      const data = new Arr(count);
      data.set(new Arr(m.HEAPU8.buffer, buf, count));
      return {name: m.UTF8ToString(m.getValue(name, 'i32')), shape: dims, dtype: dt, data};
    } finally {
      scratch.release();
    }
  }

  dispose() {
    if (this.handle) this.api.predFree(this.handle);
    this.handle = 0;
  }

  live() {
    if (!this.handle) throw new BrassError('BrassPredictor: used after dispose()');
  }
}

// Allocations in the module's heap for one call, freed together.
class Scratch {
  constructor(api) {
    this.api = api;
    this.ptrs = [];
  }
  alloc(n) {
    const p = this.api.malloc(Math.max(n, 1));
    if (!p) throw new BrassError('out of memory in the WebAssembly heap');
    this.ptrs.push(p);
    return p;
  }
  string(s) {
    const n = this.api.m.lengthBytesUTF8(s) + 1;
    const p = this.alloc(n);
    this.api.m.stringToUTF8(s, p, n);
    return p;
  }
  bytes(u8) {
    const p = this.alloc(u8.length);
    this.api.m.HEAPU8.set(u8, p);
    return p;
  }
  release() {
    for (const p of this.ptrs) this.api.free(p);
    this.ptrs = [];
  }
}

function check(api, status, what) {
  if (status !== 0) throw new BrassError(what + ': ' + api.m.UTF8ToString(api.lastError()));
}

if (typeof module !== 'undefined' && module.exports) {
  module.exports = {BrassModel, BrassPredictor, BrassError};
} else {
  globalThis.BrassModel = BrassModel;
  globalThis.BrassError = BrassError;
}
