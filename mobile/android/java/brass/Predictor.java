package brass;

/**
 * The Brass predictor from Java, over JNI: the shape of an Android binding. A {@link Model} is
 * loaded once from a symbol's JSON and a parameter file's bytes (trained in Brass or MXNet 1.x);
 * predictors made from it share its weights, one per thread.
 *
 * <pre>
 * try (Predictor.Model model = new Predictor.Model(symbolJson, paramBytes);
 *      Predictor p = new Predictor(model, new String[] {"data"}, new long[][] {{1, 3, 224, 224}})) {
 *   p.setInput("data", pixels);
 *   p.forward();
 *   float[] scores = p.getOutput(0);
 * }
 * </pre>
 *
 * The native side is mobile/android/jni/brass_jni.cc compiled with brass_predict.cc into
 * libbrass_jni.so (docs/PREDICT.md). Failures throw {@link BrassException} with the predictor's
 * message; a closed object throws IllegalStateException.
 */
public final class Predictor implements AutoCloseable {
  static {
    System.loadLibrary("brass_jni");
  }

  /** A predictor's failure: the message names the op, the argument and the shapes. */
  public static final class BrassException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public BrassException(String message) {
      super(message);
    }
  }

  /** A loaded model: read-only, shared by its predictors. */
  public static final class Model implements AutoCloseable {
    private long handle;

    public Model(String symbolJson, byte[] params) {
      handle = nativeLoad(symbolJson, params);
    }

    long handle() {
      if (handle == 0) throw new IllegalStateException("Model: closed");
      return handle;
    }

    @Override
    public void close() {
      if (handle != 0) nativeFree(handle);
      handle = 0;
    }
  }

  private long handle;

  /** Binds the model for these inputs: names[i] gets shapes[i]. */
  public Predictor(Model model, String[] names, long[][] shapes) {
    if (names.length != shapes.length) {
      throw new IllegalArgumentException("Predictor: " + names.length + " names for " + shapes.length + " shapes");
    }
    handle = nativeCreate(model.handle(), names, shapes);
  }

  /** Copies data (float32, exactly the input's size) into input name. */
  public void setInput(String name, float[] data) {
    nativeSetInput(live(), name, data);
  }

  /** Runs the graph. */
  public void forward() {
    nativeForward(live());
  }

  public int numOutputs() {
    return nativeNumOutputs(live());
  }

  public long[] getOutputShape(int index) {
    return nativeOutputShape(live(), index);
  }

  /** Output index's values (float32 outputs), waiting for them. */
  public float[] getOutput(int index) {
    return nativeGetOutput(live(), index);
  }

  /** Build facts: the GEMM kernels' instruction set, threads, what the build leaves out. */
  public static native String buildInfo();

  @Override
  public void close() {
    if (handle != 0) nativeFreePredictor(handle);
    handle = 0;
  }

  private long live() {
    if (handle == 0) throw new IllegalStateException("Predictor: closed");
    return handle;
  }

  private static native long nativeLoad(String symbolJson, byte[] params);
  private static native void nativeFree(long model);
  private static native long nativeCreate(long model, String[] names, long[][] shapes);
  private static native void nativeSetInput(long pred, String name, float[] data);
  private static native void nativeForward(long pred);
  private static native int nativeNumOutputs(long pred);
  private static native long[] nativeOutputShape(long pred, int index);
  private static native float[] nativeGetOutput(long pred, int index);
  private static native void nativeFreePredictor(long pred);
}
