// JNI glue for mobile/android/java/brass/Predictor.java over the predict API. Build it with the
// predictor into one shared library (host JVM, or the NDK's clang for Android), with
// J=$JAVA_HOME/include:
//   c++ -std=c++17 -O2 -fPIC -shared brass_predict.cc brass_jni.cc -I$J -I$J/linux -o libbrass_jni.so -pthread
// Handles travel as jlong; every failure becomes a Predictor.BrassException.
#include <jni.h>

#include <cstdint>
#include <string>
#include <vector>

#include "brass_predict.h"

namespace {

void throw_brass(JNIEnv* env, const std::string& what) {
  jclass cls = env->FindClass("brass/Predictor$BrassException");
  if (cls) env->ThrowNew(cls, what.c_str());
}

// False (with a BrassException pending) when status is an error.
bool ok(JNIEnv* env, brass_status status) {
  if (status == BRASS_OK) return true;
  throw_brass(env, brass_predict_last_error());
  return false;
}

std::string utf(JNIEnv* env, jstring s) {
  const char* c = env->GetStringUTFChars(s, nullptr);
  std::string out(c ? c : "");
  if (c) env->ReleaseStringUTFChars(s, c);
  return out;
}

template <class H>
H handle(jlong h) {
  return reinterpret_cast<H>(static_cast<uintptr_t>(h));
}
template <class H>
jlong to_jlong(H h) {
  return static_cast<jlong>(reinterpret_cast<uintptr_t>(h));
}

// An output's name, shape and dtype; false with a BrassException pending on failure.
struct OutputInfo {
  const char* name;
  int32_t ndim;
  const int64_t* shape;
  brass_dtype dtype;
};
bool output_info(JNIEnv* env, brass_predictor_t pred, jint index, OutputInfo* o) {
  return ok(env, brass_predictor_output_info(pred, index, &o->name, &o->ndim, &o->shape, &o->dtype));
}

}  // namespace

extern "C" {

JNIEXPORT jstring JNICALL Java_brass_Predictor_buildInfo(JNIEnv* env, jclass) {
  return env->NewStringUTF(brass_predict_build_info());
}

JNIEXPORT jlong JNICALL Java_brass_Predictor_nativeLoad(JNIEnv* env, jclass, jstring json, jbyteArray params) {
  if (!json || !params) {
    throw_brass(env, "Model: the symbol JSON and the parameter bytes must not be null");
    return 0;
  }
  std::string j = utf(env, json);
  std::vector<jbyte> bytes(static_cast<size_t>(env->GetArrayLength(params)));
  env->GetByteArrayRegion(params, 0, static_cast<jsize>(bytes.size()), bytes.data());
  brass_model_t model = nullptr;
  if (!ok(env, brass_model_load(j.c_str(), bytes.data(), bytes.size(), &model))) return 0;
  return to_jlong(model);
}

JNIEXPORT void JNICALL Java_brass_Predictor_nativeFree(JNIEnv*, jclass, jlong model) {
  brass_model_free(handle<brass_model_t>(model));
}

JNIEXPORT jlong JNICALL Java_brass_Predictor_nativeCreate(JNIEnv* env, jclass, jlong model, jobjectArray names,
                                                          jobjectArray shapes) {
  jsize n = env->GetArrayLength(names);
  std::vector<std::string> keep;
  std::vector<const char*> keys;
  std::vector<int64_t> indptr{0}, dims;
  for (jsize i = 0; i < n; ++i) {
    auto name = static_cast<jstring>(env->GetObjectArrayElement(names, i));
    auto shape = static_cast<jlongArray>(env->GetObjectArrayElement(shapes, i));
    if (!name || !shape) {
      throw_brass(env, "Predictor: input " + std::to_string(i) + " has a null name or shape");
      return 0;
    }
    keep.push_back(utf(env, name));
    std::vector<jlong> d(static_cast<size_t>(env->GetArrayLength(shape)));
    env->GetLongArrayRegion(shape, 0, static_cast<jsize>(d.size()), d.data());
    dims.insert(dims.end(), d.begin(), d.end());
    indptr.push_back(static_cast<int64_t>(dims.size()));
  }
  for (auto& k : keep) keys.push_back(k.c_str());
  brass_predictor_t pred = nullptr;
  if (!ok(env, brass_predictor_create(handle<brass_model_t>(model), BRASS_CPU, 0, n, keys.data(), indptr.data(),
                                      dims.data(), 0, nullptr, &pred)))
    return 0;
  return to_jlong(pred);
}

JNIEXPORT void JNICALL Java_brass_Predictor_nativeSetInput(JNIEnv* env, jclass, jlong pred, jstring name,
                                                           jfloatArray data) {
  if (!name || !data) {
    throw_brass(env, "setInput: the name and the data must not be null");
    return;
  }
  std::string key = utf(env, name);
  std::vector<jfloat> v(static_cast<size_t>(env->GetArrayLength(data)));
  env->GetFloatArrayRegion(data, 0, static_cast<jsize>(v.size()), v.data());
  ok(env, brass_predictor_set_input(handle<brass_predictor_t>(pred), key.c_str(), v.data(), v.size() * sizeof(float)));
}

JNIEXPORT void JNICALL Java_brass_Predictor_nativeForward(JNIEnv* env, jclass, jlong pred) {
  ok(env, brass_predictor_forward(handle<brass_predictor_t>(pred)));
}

JNIEXPORT jint JNICALL Java_brass_Predictor_nativeNumOutputs(JNIEnv* env, jclass, jlong pred) {
  int32_t n = 0;
  ok(env, brass_predictor_num_outputs(handle<brass_predictor_t>(pred), &n));
  return n;
}

JNIEXPORT jlongArray JNICALL Java_brass_Predictor_nativeOutputShape(JNIEnv* env, jclass, jlong pred, jint index) {
  OutputInfo o;
  if (!output_info(env, handle<brass_predictor_t>(pred), index, &o)) return nullptr;
  jlongArray out = env->NewLongArray(o.ndim);
  std::vector<jlong> d(o.shape, o.shape + o.ndim);
  if (out) env->SetLongArrayRegion(out, 0, o.ndim, d.data());
  return out;
}

JNIEXPORT jfloatArray JNICALL Java_brass_Predictor_nativeGetOutput(JNIEnv* env, jclass, jlong pred, jint index) {
  auto p = handle<brass_predictor_t>(pred);
  OutputInfo o;
  if (!output_info(env, p, index, &o)) return nullptr;
  if (o.dtype != BRASS_FLOAT32) {
    throw_brass(env, std::string("getOutput: output '") + o.name + "' is not float32");
    return nullptr;
  }
  int64_t count = 1;
  for (int32_t i = 0; i < o.ndim; ++i) count *= o.shape[i];
  if (count > INT32_MAX) {
    throw_brass(env, "getOutput: the output has more elements than a Java array holds");
    return nullptr;
  }
  std::vector<jfloat> v(static_cast<size_t>(count));
  if (!ok(env, brass_predictor_get_output(p, index, v.data(), v.size() * sizeof(float)))) return nullptr;
  jfloatArray out = env->NewFloatArray(static_cast<jsize>(count));
  if (out) env->SetFloatArrayRegion(out, 0, static_cast<jsize>(count), v.data());
  return out;
}

JNIEXPORT void JNICALL Java_brass_Predictor_nativeFreePredictor(JNIEnv*, jclass, jlong pred) {
  brass_predictor_free(handle<brass_predictor_t>(pred));
}

}  // extern "C"
