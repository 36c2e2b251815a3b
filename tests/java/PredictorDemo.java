import brass.Predictor;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Scanner;

/**
 * java PredictorDemo SYMBOL PARAMS DIM... &lt; input values: runs the model through
 * brass.Predictor (JNI) and prints the build info, the output shape and the outputs, one per
 * line; a model that fails prints "BrassException: message" and exits with status 1.
 */
public final class PredictorDemo {
  public static void main(String[] args) throws Exception {
    String json = new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8);
    byte[] params = Files.readAllBytes(Paths.get(args[1]));
    long[] shape = new long[args.length - 2];
    long n = 1;
    for (int i = 2; i < args.length; ++i) {
      shape[i - 2] = Long.parseLong(args[i]);
      n *= shape[i - 2];
    }
    List<Float> values = new ArrayList<>();
    try (Scanner in = new Scanner(System.in)) {
      while (in.hasNext()) values.add(Float.parseFloat(in.next()));
    }
    float[] x = new float[(int) n];
    for (int i = 0; i < n; ++i) x[i] = values.get(i);
    System.out.println("build: " + Predictor.buildInfo());
    try (Predictor.Model model = new Predictor.Model(json, params);
         Predictor p = new Predictor(model, new String[] {"data"}, new long[][] {shape})) {
      p.setInput("data", x);
      p.forward();
      StringBuilder dims = new StringBuilder("shape:");
      for (long d : p.getOutputShape(0)) dims.append(' ').append(d);
      System.out.println(dims);
      for (float v : p.getOutput(0)) System.out.println(v);
    } catch (Predictor.BrassException e) {
      System.out.println("BrassException: " + e.getMessage());
      System.exit(1);
    }
  }
}
