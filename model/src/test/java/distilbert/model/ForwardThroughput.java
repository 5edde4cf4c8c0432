package distilbert.model;

import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;

/**
 * A quick number, not a benchmark (JMH lives in bench/): forward of distilbert-base's shape with
 * random weights on a full batch of 8 × 128 tokens, per CPU matmul kernel.
 *
 * <pre>
 * ./dev mvn -pl model test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 * java --add-modules jdk.incubator.vector -cp model/target/classes:model/target/test-classes:$(cat model/target/cp.txt) \
 *     distilbert.model.ForwardThroughput [batch] [length] [runs]
 * </pre>
 */
public final class ForwardThroughput {

    public static void main(String[] args) {
        int B = args.length > 0 ? Integer.parseInt(args[0]) : 8;
        int L = args.length > 1 ? Integer.parseInt(args[1]) : 128;
        int runs = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        DistilBertConfig config = DistilBertConfig.defaults();
        Checkpoint ckpt = Checkpoint.initialized(config, Head.BASE, 1);
        int[][] ids = TestModels.randomIds(B, L, config.vocabSize(), 2);
        int threads = Runtime.getRuntime().availableProcessors();
        for (MatmulKernel kernel : MatmulKernel.vectorApiAvailable() ? MatmulKernel.values()
                : new MatmulKernel[] {MatmulKernel.SCALAR}) {
            try (DistilBert db = DistilBert.of(ckpt, new CpuOps(threads, kernel))) {
                DistilBertModel model = db.as(DistilBertModel.class);
                ModelInput in = ModelInput.ofIds(ids);
                int warmup = kernel == MatmulKernel.SCALAR ? 1 : 3;
                for (int i = 0; i < warmup; i++) {
                    model.forward(in);
                }
                double best = Double.MAX_VALUE, total = 0;
                int n = kernel == MatmulKernel.SCALAR ? Math.min(runs, 2) : runs;
                for (int i = 0; i < n; i++) {
                    long t0 = System.nanoTime();
                    model.forward(in);
                    double s = (System.nanoTime() - t0) / 1e9;
                    best = Math.min(best, s);
                    total += s;
                }
                // matmul FLOPs: 2·T·(4·C² + 2·C·F) per layer; attention 2·2·B·L²·C per layer
                double T = (double) B * L, C = config.dim(), F = config.hiddenDim();
                double flops = config.nLayers() * (2 * T * (4 * C * C + 2 * C * F) + 4.0 * B * L * L * C);
                System.out.printf("%s: [%d, %d] forward best %.3f s, mean %.3f s over %d runs; %.0f tokens/s, %.1f GFLOP/s%n",
                        db.ops().describe(), B, L, best, total / n, n, T / best, flops / best / 1e9);
            }
        }
    }
}
