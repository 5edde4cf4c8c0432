package distilbert.cli;

import static distilbert.cli.Cli.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The commands' CUDA path on the stand-in driver and cuBLAS (kernels-cu/src/test/fake-cuda) with the
 * kernels run by the kernel emulator (kernels-cu/src/test/emu): {@code --device cuda} and
 * {@code auto} taking the GPU, each precision, loading the weights onto the device, batching, the
 * launches, the copies back, the JSON, and the output of every command against the same command on
 * the CPU ({@link #sameAsOnTheCpu}). Runs only in cli/pom.xml's fake-gpu execution.
 */
@Tag("fakegpu")
class CliOnFakeGpuTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    @BeforeAll
    static void onTheStandIns() {
        Assumptions.assumeTrue(Boolean.getBoolean("distilbert.fakeGpu"),
                "runs in cli/pom.xml's fake-gpu execution, on the stand-in driver (mvn test runs it)");
    }

    private static List<String> run(String command, Path model, String stdin, String... args) {
        List<String> all = new java.util.ArrayList<>(List.of(command, "--model", model.toString()));
        all.addAll(List.of(args));
        Cli.Result r = Cli.run(stdin, all.toArray(String[]::new));
        assertFalse(r.err().contains("CPU"), "ran on the GPU, no fallback notice: " + r.err());
        return ok(r);
    }

    /**
     * The command's output with {@code --device cuda} against {@code --device cpu}, line by line and
     * field by field: strings, booleans and integers equal; every array of numbers within
     * {@code bound} relative L2 and every other number within {@code bound}·max(1, |x|); on two GPUs
     * ({@code cuda:0,1}) the one GPU's lines exactly. Returns the GPU's lines.
     */
    private static List<String> sameAsOnTheCpu(double bound, String command, Path model, String stdin, String... args)
            throws IOException {
        List<String> gpu = run(command, model, stdin, concat(args, "--device", "cuda"));
        // and on two GPUs at once (the stand-in driver's devices 0 and 1): what one GPU writes, byte for byte
        assertEquals(gpu, run(command, model, stdin, concat(args, "--device", "cuda:0,1")), command + " on cuda:0,1");
        List<String> cpu = ok(Cli.run(stdin, concat(concat(new String[] {command, "--model", model.toString()}, args),
                "--device", "cpu")));
        assertEquals(cpu.size(), gpu.size(), command + ": lines");
        for (int i = 0; i < cpu.size(); i++) {
            compare(command + " line " + (i + 1), bound, JSON.readTree(cpu.get(i)), JSON.readTree(gpu.get(i)));
        }
        return gpu;
    }

    private static String[] concat(String[] a, String... b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    private static void compare(String where, double bound, JsonNode cpu, JsonNode gpu) {
        if (cpu.isArray() && cpu.size() > 0 && cpu.get(0).isFloatingPointNumber()) {
            assertTrue(gpu.isArray() && gpu.size() == cpu.size(), where + ": " + gpu + " vs " + cpu);
            double d = 0, n = 0;
            for (int i = 0; i < cpu.size(); i++) {
                double x = cpu.get(i).asDouble(), y = gpu.get(i).asDouble();
                d += (y - x) * (y - x);
                n += x * x;
            }
            double rel = n == 0 ? Math.sqrt(d) : Math.sqrt(d / n);
            assertTrue(rel <= bound, where + ": relative L2 " + rel + " > " + bound + "\n gpu " + gpu + "\n cpu " + cpu);
        } else if (cpu.isContainerNode()) {
            assertEquals(cpu.size(), gpu.size(), where + ": size of " + gpu + " vs " + cpu);
            if (cpu.isArray()) {
                for (int i = 0; i < cpu.size(); i++) {
                    compare(where + "[" + i + "]", bound, cpu.get(i), gpu.get(i));
                }
            } else {
                for (var it = cpu.fieldNames(); it.hasNext();) {
                    String f = it.next();
                    assertTrue(gpu.has(f), where + ": no field " + f + " in " + gpu);
                    compare(where + "." + f, bound, cpu.get(f), gpu.get(f));
                }
            }
        } else if (cpu.isFloatingPointNumber()) {
            double x = cpu.asDouble(), y = gpu.asDouble();
            assertTrue(Math.abs(y - x) <= bound * Math.max(1, Math.abs(x)), where + ": " + y + " vs " + x);
        } else {
            assertEquals(cpu, gpu, where);
        }
    }

    @Test
    void infoSeesTheStandInDevice() {
        Cli.Result r = Cli.run("", "info", "--device");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("GPU: usable"), r.out());
        assertTrue(r.out().contains("distilbert-cuda fake GPU"), r.out());
        // cli/pom.xml's FAKE_CUDA_DEVICES: two sm_90 devices and an sm_75 one
        String[] lines = r.out().split("\n");
        assertTrue(java.util.Arrays.stream(lines).anyMatch(l -> l.trim().startsWith("device 0 ") && l.endsWith("[default]")), r.out());
        assertTrue(java.util.Arrays.stream(lines).anyMatch(l -> l.trim().startsWith("device 1 ") && l.contains("(sm_90)")
                && !l.contains("not supported")), r.out());
        assertTrue(java.util.Arrays.stream(lines).anyMatch(l -> l.trim().startsWith("device 2 ")
                && l.contains("compute capability 7.5 (sm_75)") && l.contains("not supported (needs sm_80+)")), r.out());
        assertTrue(r.out().contains("--device cuda:N runs on device N"), r.out());
    }

    /** --device cuda:N: the second GPU gives the CPU's output; a GPU that is not there or too old, a clear error. */
    @Test
    void aChosenGpu() throws IOException {
        Path model = TinyModels.widened(dir.resolve("chosen"), TinyModels.config(), Head.BASE);
        String rows = Cli.rows("the whale was white", "Call me Ishmael.");
        List<String> gpu1 = run("embed", model, rows, "--device", "cuda:1", "--precision", "fp32");
        List<String> cpu = ok(Cli.run(rows, "embed", "--model", model.toString(), "--device", "cpu"));
        for (int i = 0; i < cpu.size(); i++) {
            compare("cuda:1 line " + (i + 1), 1e-4, JSON.readTree(cpu.get(i)), JSON.readTree(gpu1.get(i)));
        }
        Cli.Result old = Cli.run(rows, "embed", "--model", model.toString(), "--device", "cuda:2");
        assertEquals(1, old.code(), old.err());
        assertTrue(old.err().contains("--device cuda:2: device 2: distilbert-cuda fake GPU")
                && old.err().contains("cannot run the kernels: they need compute capability 8.0 or newer"), old.err());
        Cli.Result none = Cli.run(rows, "embed", "--model", model.toString(), "--device", "cuda:7");
        assertEquals(1, none.code(), none.err());
        assertTrue(none.err().contains("--device cuda:7: no CUDA device 7: the driver sees 3 GPUs, devices 0 to 2"), none.err());
        Cli.Result bench = Cli.run("", "bench", "--model", model.toString(), "--device", "cuda:1", "--batch", "2", "--length", "8",
                "--seconds", "0.01", "--warmup", "1", "--json");
        assertEquals(0, bench.code(), bench.err());
        JsonNode timed = JSON.readTree(bench.lines().getFirst());
        assertTrue(timed.get("backend").asText().startsWith("cuda (device 1: distilbert-cuda fake GPU")
                && timed.get("backend").asText().endsWith(", bf16)"), timed.toString());
        assertTrue(timed.get("calls").asInt() >= 3 && timed.get("median_ms").asDouble() > 0, timed.toString());
        // on two GPUs and on two copies on one: a call runs a batch on each, so 4 rows a call
        for (String two : new String[] {"cuda:0,1", "cuda:1,1"}) {
            Path input = java.nio.file.Files.writeString(dir.resolve("bench-rows.jsonl"), rows);
            Cli.Result both = Cli.run("", "bench", "--model", model.toString(), "--device", two, "--batch", "2", "--length", "8",
                    "--seconds", "0.01", "--warmup", "1", "--input", input.toString(), "--batch-tokens", "4", "--json");
            assertEquals(0, both.code(), two + ": " + both.err());
            JsonNode fixed = JSON.readTree(both.lines().getFirst()), dealt = JSON.readTree(both.lines().get(1));
            assertEquals(2, fixed.get("copies").asInt(), fixed.toString());
            assertEquals(4, fixed.get("rows").asInt(), fixed.toString());
            assertEquals(2, fixed.get("batches").asInt(), fixed.toString());
            assertEquals(2, dealt.get("rows").asInt(), "the input rows, dealt to the copies: " + dealt);
            assertEquals(2, dealt.get("batches").asInt(), "one row each, one batch each: " + dealt);
            String[] backends = fixed.get("backend").asText().split("; ");
            assertEquals(2, backends.length, fixed.toString());
            assertTrue(backends[1].startsWith("cuda (device 1: "), fixed.toString());
        }
        Cli.Result typo = Cli.run(rows, "embed", "--model", model.toString(), "--device", "gpu1");
        assertEquals(2, typo.code(), typo.err());
        assertTrue(typo.err().contains("unknown device 'gpu1': expected cpu, cuda, cuda:N"), typo.err());
    }

    @Test
    void embedOnEveryPrecisionAndOnAuto() throws IOException {
        Path model = TinyModels.widened(dir.resolve("base"), TinyModels.config(), Head.BASE);
        String rows = Cli.rows("the whale was white", "Call me Ishmael.", "a", "x y z");
        // the bounds of a whole forward pass, distilbert.model.GpuBackends#modelBound
        String[] precisions = {"fp32", "tf32", "bf16", "fp16"};
        double[] bounds = {1e-4, 5e-3, 5e-2, 1e-2};
        for (int p = 0; p < precisions.length; p++) {
            List<String> lines = sameAsOnTheCpu(bounds[p], "embed", model, rows, "--precision", precisions[p]);
            assertEquals(4, lines.size(), precisions[p]);
            assertEquals(TinyModels.C, JSON.readTree(lines.getFirst()).get("embedding").size(), precisions[p]);
        }
        // auto takes the (stand-in) GPU, so it says nothing about the CPU
        assertEquals(4, run("embed", model, rows).size());
        assertEquals(4, sameAsOnTheCpu(1e-4, "embed", model, rows, "--pooling", "none", "--precision", "fp32").size());
        assertEquals(4, sameAsOnTheCpu(1e-4, "embed", model, rows, "--pooling", "cls", "--normalize", "--precision", "fp32")
                .size());
    }

    /**
     * Several GPUs at once (--device cuda:0,1 and cuda:all, which leaves out the sm_75 device 2, and
     * cuda:0,0, two copies of the model on one GPU): the
     * chunks run on both, and the output is byte for byte the one GPU's, in input order; a bad line
     * stops the run after the rows before it are written, as on one GPU; a list with a GPU that cannot
     * run the kernels fails naming it. Small --batch-tokens make many chunks (32 batches each).
     */
    @Test
    void severalGpusAtOnceWriteWhatOneWrites() throws IOException {
        Path model = TinyModels.widened(dir.resolve("several"), TinyModels.config(), Head.BASE);
        String[] texts = new String[700]; // the input is read 256 rows at a time: several chunks
        for (int i = 0; i < texts.length; i++) texts[i] = "row " + i + " of the whale " + "and the sea ".repeat(i % 3);
        String rows = Cli.rows(texts);
        String[] common = {"embed", "--model", model.toString(), "--batch-tokens", "6", "--precision", "fp32"};
        Cli.Result one = Cli.run(rows, concat(common, "--device", "cuda:0"));
        assertEquals(0, one.code(), one.err());
        assertEquals(700, one.lines().size());
        for (String devices : new String[] {"cuda:0,1", "cuda:1,cuda:0", "cuda:all", "cuda:0,0", "cuda:0,1,1,0"}) {
            Cli.Result two = Cli.run(rows, concat(common, "--device", devices));
            assertEquals(0, two.code(), devices + ": " + two.err());
            assertEquals(one.out(), two.out(), devices + ": the one GPU's output, in input order");
            assertEquals("", two.err(), devices);
        }
        // the same as an .npy array: the one GPU's bytes on two
        Path npy1 = dir.resolve("one.npy"), npy2 = dir.resolve("two.npy");
        assertEquals(0, Cli.run(rows, concat(common, "--device", "cuda:0", "--format", "npy", "--output", npy1.toString())).code());
        assertEquals(0, Cli.run(rows, concat(common, "--device", "cuda:0,1", "--format", "npy", "--output", npy2.toString())).code());
        assertTrue(java.util.Arrays.equals(java.nio.file.Files.readAllBytes(npy1), java.nio.file.Files.readAllBytes(npy2)));
        assertEquals(700, EmbedNpyTest.readNpy(npy2).length);
        String bad = rows.lines().limit(600).map(l -> l + "\n").reduce("", String::concat) + "{not json\n"
                + rows.lines().skip(600).map(l -> l + "\n").reduce("", String::concat);
        Cli.Result oneBad = Cli.run(bad, concat(common, "--device", "cuda:0"));
        Cli.Result twoBad = Cli.run(bad, concat(common, "--device", "cuda:0,1"));
        assertEquals(1, oneBad.code(), oneBad.err());
        assertEquals(600, oneBad.lines().size());
        assertEquals(oneBad.code(), twoBad.code(), twoBad.err());
        assertEquals(oneBad.out(), twoBad.out(), "the 600 rows before the bad line, written before its error");
        assertEquals(oneBad.err(), twoBad.err());
        Cli.Result old = Cli.run(rows, concat(common, "--device", "cuda:0,2"));
        assertEquals(1, old.code(), old.err());
        assertTrue(old.err().contains("--device cuda:2: device 2: ") && old.err().contains("cannot run the kernels"), old.err());
    }

    /**
     * --serve on two GPUs (the stand-in's devices 0 and 1, kernels emulated): clients sending at once
     * get, each, the lines that embed writes for their rows on one GPU, bit for bit (every op of the
     * model computes each row on its own, so sharing a batch with other requests changes nothing).
     */
    @Test
    void servingOnTwoGpusAnswersEachClientWithItsOwnLines() throws Exception {
        Path model = TinyModels.widened(dir.resolve("served"), TinyModels.config(), Head.BASE);
        List<String> texts = List.of("the whale", "a ship on the sea and a storm", "Call me Ishmael.", "x", "the white whale swam",
                "harpoons");
        List<String> want = run("embed", model, Cli.rows(texts.toArray(String[]::new)), "--device", "cuda:0", "--precision", "fp32");
        java.util.concurrent.ExecutorService clients = java.util.concurrent.Executors.newFixedThreadPool(texts.size());
        try (ServeTest.Server s = new ServeTest.Server("embed", "--model", model.toString(), "--device", "cuda:0,1",
                "--precision", "fp32", "--serve", "0", "--max-wait", "50")) {
            assertTrue(s.err().contains("serving 2 model copies"), s.err());
            List<java.util.concurrent.Future<ServeTest.Response>> got = new java.util.ArrayList<>();
            for (String t : texts) got.add(clients.submit(() -> ServeTest.http(s.port, "POST", "/", Cli.rows(t))));
            for (int i = 0; i < texts.size(); i++) {
                ServeTest.Response r = got.get(i).get(120, java.util.concurrent.TimeUnit.SECONDS);
                assertEquals(200, r.status(), r.body());
                assertEquals(List.of(want.get(i)), r.lines(), "client " + i);
            }
            JsonNode health = JSON.readTree(ServeTest.http(s.port, "GET", "/health", null).body());
            assertEquals(2, health.get("backends").size(), health.toString());
            assertTrue(health.get("backends").get(1).asText().startsWith("cuda ("), health.toString());
            assertEquals(texts.size(), health.get("requests").asInt());
            assertEquals(0, s.stop());
        } finally {
            clients.shutdownNow();
        }
    }

    /**
     * A GPU too full for the model: --device cuda fails with the out-of-memory message (what, how much,
     * how much is free, what to do), not an internal error; auto runs on the CPU, saying why once.
     */
    @Test
    void aFullGpuIsAClearErrorOnCudaAndTheCpuOnAuto() throws IOException {
        Path model = TinyModels.widened(dir.resolve("full"), TinyModels.config(), Head.BASE);
        Path memory = Path.of(System.getenv("FAKE_CUDA_MEMORY_FILE"));
        java.nio.file.Files.writeString(memory, "20000000"); // 19 MiB: not the 32 MiB cuBLAS workspace
        try {
            String rows = Cli.rows("the whale was white", "a");
            Cli.Result cuda = Cli.run(rows, "embed", "--model", model.toString(), "--device", "cuda");
            assertEquals(1, cuda.code(), cuda.err());
            assertTrue(cuda.err().startsWith("distilbert embed: GPU out of memory: the cuBLAS workspace needs 32.0 MiB"),
                    cuda.err());
            assertTrue(cuda.err().contains("free of 19.1 MiB. Free other models on this GPU, or run on the CPU"), cuda.err());
            Cli.Result auto = Cli.run(rows, "embed", "--model", model.toString());
            assertEquals(0, auto.code(), auto.err());
            assertEquals(2, auto.lines().size());
        } finally {
            java.nio.file.Files.deleteIfExists(memory);
        }
    }

    /**
     * Fine-tuning on the GPU follows the same run on the CPU step by step (the same data order and dropout
     * masks): the logged losses and gradient norms in fp32 within 1e-4 relative (float32 sums in other
     * orders, compounded over 4 steps), in bf16 and fp16 mixed precision within CudaTrainingParityTest's
     * gradient bounds, measured on HF's own bf16 and fp16 (0.25, 0.0075; fp16 with GradScaler's loss scale,
     * which overflows nothing here: no step is skipped); the model it writes loads and scores.
     */
    @Test
    void trainingOnTheGpuFollowsTheCpuRun() throws IOException {
        Path base = TinyModels.withTokenizer(dir.resolve("train-base"));
        Path data = java.nio.file.Files.write(dir.resolve("train.jsonl"), TrainCommandTest.examples(32, 1));
        java.util.function.BiFunction<String, String[], List<JsonNode>> train = (name, device) -> {
            Path out = dir.resolve("train-" + name);
            List<String> args = new java.util.ArrayList<>(List.of("train", "--model", base.toString(), "--train",
                    data.toString(), "--output", out.toString(), "--batch-size", "8", "--max-steps", "4", "--logging-steps",
                    "1", "--learning-rate", "1e-3", "--seed", "3"));
            args.addAll(List.of(device));
            Cli.Result r = Cli.run("", args.toArray(String[]::new));
            assertEquals(0, r.code(), name + ": " + r.err());
            assertFalse(r.err().contains("running on the CPU"), name + ": " + r.err());
            try {
                List<JsonNode> log = new java.util.ArrayList<>();
                for (String l : java.nio.file.Files.readAllLines(out.resolve("train_log.jsonl"))) log.add(JSON.readTree(l));
                return log;
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
        List<JsonNode> cpu = train.apply("cpu", new String[] {"--device", "cpu"});
        assertEquals(4, cpu.size());
        for (String p : List.of("fp32", "bf16", "fp16")) {
            // bf16 and fp16 through HF's flags, --bf16 and --fp16 (the same as --precision bf16, fp16)
            List<JsonNode> gpu = train.apply(p, p.equals("fp32") ? new String[] {"--device", "cuda", "--precision", p}
                    : new String[] {"--device", "cuda", "--" + p});
            double bound = switch (p) {
                case "fp32" -> 1e-4;
                case "bf16" -> 0.25;
                default -> 0.0075;
            };
            assertEquals(cpu.size(), gpu.size(), p);
            for (int i = 0; i < cpu.size(); i++) {
                for (String key : List.of("loss", "grad_norm")) {
                    double c = cpu.get(i).get(key).asDouble(), g = gpu.get(i).get(key).asDouble();
                    assertTrue(Math.abs(g - c) <= bound * Math.abs(c), p + " step " + (i + 1) + " " + key + ": " + g + " vs " + c);
                }
            }
        }
        assertEquals(2, ok(Cli.run(Cli.rows("good movie", "awful plot"), "score", "--model",
                dir.resolve("train-bf16").toString(), "--device", "cuda")).size());
    }

    /**
     * A GPU run resumed from its first checkpoint writes the uninterrupted run's model, bit for bit, in
     * fp32, bf16 and fp16 (whose checkpoints hold the float32 master weights, and fp16's the loss scale):
     * every kernel of the
     * training step sums in a fixed order (the embeddings' scatter too: no atomics), and the dropout
     * masks and the data order continue from the checkpoint.
     */
    @Test
    void resumingOnTheGpuGivesTheUninterruptedRunsModel() throws IOException {
        Path base = TinyModels.withTokenizer(dir.resolve("resume-base"));
        Path data = java.nio.file.Files.write(dir.resolve("resume.jsonl"), TrainCommandTest.examples(32, 4));
        for (String p : List.of("fp32", "bf16", "fp16")) {
            Path whole = dir.resolve("whole-" + p), resumed = dir.resolve("resumed-" + p);
            String[] args = {"train", "--model", base.toString(), "--train", data.toString(), "--device", "cuda",
                    "--precision", p, "--batch-size", "8", "--max-steps", "4", "--save-steps", "2", "--learning-rate", "1e-3"};
            ok(Cli.run("", concat(args, "--output", whole.toString())));
            ok(Cli.run("", concat(args, "--output", resumed.toString())));
            // as if the run had died after its first checkpoint
            try (var walk = java.nio.file.Files.walk(resumed.resolve("checkpoint-4"))) {
                for (Path f : walk.sorted(java.util.Comparator.reverseOrder()).toList()) java.nio.file.Files.delete(f);
            }
            java.nio.file.Files.delete(resumed.resolve("model.safetensors"));
            Cli.Result again = Cli.run("", concat(args, "--output", resumed.toString(), "--resume"));
            assertEquals(0, again.code(), again.err());
            assertTrue(again.err().contains("at step 2"), again.err());
            assertTrue(java.util.Arrays.equals(java.nio.file.Files.readAllBytes(whole.resolve("model.safetensors")),
                    java.nio.file.Files.readAllBytes(resumed.resolve("model.safetensors"))), p + ": the same model");
            assertEquals(java.nio.file.Files.readString(whole.resolve("train_log.jsonl")),
                    java.nio.file.Files.readString(resumed.resolve("train_log.jsonl")), p);
        }
    }

    /**
     * A GPU with room for the model and the trainer but not for a step's activations: the run saves a
     * checkpoint at the unfinished step and stops with the out-of-memory message (what did not fit, the
     * batch size, where the checkpoint is), losing nothing; --resume continues from it once there is room.
     * The limit is found by stepping it up a MiB at a time from one below the model's need.
     */
    @Test
    void aGpuTooSmallForATrainingStepSavesACheckpointThatResumes() throws IOException {
        Path base = TinyModels.withTokenizer(dir.resolve("oom-base"));
        Path data = java.nio.file.Files.write(dir.resolve("oom.jsonl"), TrainCommandTest.examples(48, 1));
        Path memory = Path.of(System.getenv("FAKE_CUDA_MEMORY_FILE")), out = dir.resolve("oom");
        String[] args = {"train", "--model", base.toString(), "--train", data.toString(), "--output", out.toString(),
                "--device", "cuda", "--batch-size", "48", "--max-steps", "2"};
        Cli.Result failed = null;
        try {
            for (long mib = 36; mib <= 48 && failed == null; mib++) {
                java.nio.file.Files.writeString(memory, Long.toString(mib << 20));
                Cli.Result r = Cli.run("", args);
                assertEquals(1, r.code(), mib + " MiB: " + r.err());
                assertTrue(r.err().contains("GPU out of memory"), mib + " MiB: " + r.err());
                if (r.err().contains("in a training step")) {
                    failed = r;
                }
            }
        } finally {
            java.nio.file.Files.deleteIfExists(memory);
        }
        assertTrue(failed != null, "no limit between 36 and 48 MiB held the model but not a step");
        Path checkpoint = out.resolve("checkpoint-0");
        assertTrue(failed.err().contains("\ndistilbert train: GPU out of memory: ")
                && failed.err().contains("in a training step of --batch-size 48; saved " + checkpoint
                + ": --resume continues from it once the GPU has room"), failed.err());
        assertTrue(java.nio.file.Files.isRegularFile(checkpoint.resolve("trainer_state.json")));
        Cli.Result resumed = Cli.run("", concat(args, "--resume"));
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.err().contains("resumed from " + checkpoint + " at step 0"), resumed.err());
        assertTrue(java.nio.file.Files.isRegularFile(out.resolve("model.safetensors")));
    }

    @Test
    void everyPipelineCommand() throws IOException {
        String texts = Cli.rows("I loved the films and the music.", "The ending was awfully boring, but the cast was fine.");
        Path classifier = TinyModels.classifier(dir.resolve("classifier"), TinyModels.config());
        // fp32 throughout: labels, words, offsets and answers equal the CPU's, scores within 1e-4
        List<String> scored = sameAsOnTheCpu(1e-4, "score", classifier, texts, "--top-k", "all", "--logits",
                "--precision", "fp32");
        assertEquals(2, scored.size());
        assertTrue(JSON.readTree(scored.getFirst()).has("logits"), scored.getFirst());

        Path ner = TinyModels.tokenClassifier(dir.resolve("ner"), TinyModels.config());
        assertEquals(2, sameAsOnTheCpu(1e-4, "ner", ner, texts, "--aggregation", "none", "--precision", "fp32").size());
        assertEquals(2, sameAsOnTheCpu(1e-4, "ner", ner, texts, "--aggregation", "simple", "--precision", "fp32").size());

        Path mlm = TinyModels.maskedLm(dir.resolve("mlm"), TinyModels.config());
        String masked = Cli.rows("Paris is the [MASK] of France.", "The [MASK] sat on the [MASK].");
        // with targets (probabilities from the logits) and without (softmax and top k on the device)
        List<String> filled = sameAsOnTheCpu(1e-4, "fill-mask", mlm, Cli.rows("Paris is the [MASK] of France."),
                "--targets", "capital,city", "--precision", "fp32");
        assertEquals(1, filled.size());
        assertEquals(2, JSON.readTree(filled.getFirst()).size(), filled.getFirst());
        assertEquals(2, sameAsOnTheCpu(1e-4, "fill-mask", mlm, masked, "--top-k", "3", "--precision", "fp32").size());

        Path qa = TinyModels.widened(dir.resolve("qa"), TinyModels.config(), Head.QUESTION_ANSWERING);
        JsonNode q = JSON.createObjectNode().put("question", "Who wrote it?").put("context", "Moby-Dick was written by Herman Melville.");
        assertEquals(1, sameAsOnTheCpu(1e-4, "qa", qa, q + "\n", "--top-k", "3", "--precision", "fp32").size());

        Path mc = TinyModels.widened(dir.resolve("mc"), TinyModels.config(), Head.MULTIPLE_CHOICE);
        String question = "{\"prompt\": \"The chef put the pizza\", \"choices\": [\"in the oven.\", \"on the moon.\", \"x\"]}\n";
        List<String> chosen = run("multiple-choice", mc, question + question, "--device", "cuda", "--precision", "fp16");
        assertEquals(2, chosen.size());
        assertEquals(3, JSON.readTree(chosen.getFirst()).get("scores").size());
        sameAsOnTheCpu(1e-4, "multiple-choice", mc, question, "--precision", "fp32");

        Path nli = TinyModels.classifier(dir.resolve("nli"), ZeroShotCommandTest.nli(TinyModels.config(), "contradiction",
                "neutral", "entailment"));
        String zeroShot = "{\"text\": \"The match went to extra time.\", \"candidate_labels\": [\"sports\", \"politics\", \"music\"]}\n"
                + "{\"text\": \"I loved the films.\"}\n";
        assertEquals(2, sameAsOnTheCpu(1e-4, "zero-shot", nli, zeroShot, "--labels", "film,book", "--logits",
                "--precision", "fp32").size());
        assertEquals(2, sameAsOnTheCpu(1e-4, "zero-shot", nli, zeroShot, "--labels", "film,book", "--multi-label",
                "--precision", "fp32").size());
    }
}
