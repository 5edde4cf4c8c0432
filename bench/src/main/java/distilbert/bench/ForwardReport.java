package distilbert.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writes the forward benchmark's results file (markdown) from what {@code bench/run-forward-bench.sh}
 * left in its work folder: {@code machine.json}, {@code commands.txt}, {@code phases.txt}, and per
 * phase a JMH JSON result {@code NAME.json} and its log {@code NAME.log}.
 *
 * <p>Usage: {@code java -cp bench/target/bench.jar:bench/target/lib/* distilbert.bench.ForwardReport WORK_DIR > FILE.md}
 */
public final class ForwardReport {
    /** The issue's bar: our forward at most this many times ONNX Runtime's time, on two cores. */
    static final double TARGET = 3.0;
    static final List<String> SHAPE_ORDER = List.of("1x128", "8x128", "32x128", "8x512", "ragged32");
    private static final Pattern SHAPE_LINE = Pattern.compile("shape (\\S+): (\\d+) x (\\d+), (\\d+) real tokens of (\\d+);.*");
    private static final Pattern PARITY_LINE = Pattern.compile(
            ".*?parity on the ragged batch \\(([^)]*)\\): worst relative L2 (\\S+) .*");

    private ForwardReport() {
    }

    /** One JMH result: a side (java / onnxRuntime) at a shape and thread count. */
    record Result(String side, String shape, int threads, double score, double error, List<Double> iterations,
                  double tokens, double sequences, String phase) {
        double ms() {
            return 1000.0 / score;
        }
    }

    /** What the benchmark said about a shape: batch, padded length, real tokens per batch. */
    record Shape(int batch, int length, long realTokens, long paddedTokens) {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: ForwardReport WORK_DIR  (the folder bench/run-forward-bench.sh fills)");
            System.exit(2);
        }
        System.out.print(render(Path.of(args[0])));
    }

    static String render(Path work) throws IOException {
        ObjectMapper json = new ObjectMapper();
        JsonNode machine = json.readTree(work.resolve("machine.json").toFile());
        List<Result> results = new ArrayList<>();
        Map<String, Shape> shapes = new LinkedHashMap<>();
        List<Double> parity = new ArrayList<>();
        String parityBatch = "";
        JsonNode first = null; // the settings reported: those of a 4-shape ("-main") phase when there is one
        boolean firstIsMain = false;
        List<Path> files;
        try (Stream<Path> s = Files.list(work)) {
            files = s.filter(p -> p.getFileName().toString().endsWith(".json") && !p.getFileName().toString().equals("machine.json"))
                    .sorted().toList();
        }
        for (Path f : files) {
            String phase = f.getFileName().toString().replaceFirst("\\.json$", "");
            for (JsonNode r : json.readTree(f.toFile())) {
                if (first == null || (phase.endsWith("-main") && !firstIsMain)) {
                    first = r;
                    firstIsMain = phase.endsWith("-main");
                }
                String bench = r.get("benchmark").asText();
                JsonNode pm = r.get("primaryMetric");
                List<Double> its = new ArrayList<>();
                for (JsonNode fork : pm.get("rawData")) for (JsonNode v : fork) its.add(v.asDouble());
                JsonNode sec = r.get("secondaryMetrics");
                results.add(new Result(bench.substring(bench.lastIndexOf('.') + 1), r.get("params").get("shape").asText(),
                        r.get("params").get("threads").asInt(), pm.get("score").asDouble(), number(pm.get("scoreError")), its,
                        sec.get("tokens").get("score").asDouble(), sec.get("sequences").get("score").asDouble(), phase));
            }
            Path log = work.resolve(phase + ".log");
            if (Files.exists(log)) {
                for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                    Matcher m = SHAPE_LINE.matcher(line);
                    if (m.matches()) {
                        shapes.put(m.group(1), new Shape(Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)),
                                Long.parseLong(m.group(4)), Long.parseLong(m.group(5))));
                    }
                    Matcher p = PARITY_LINE.matcher(line);
                    if (p.matches()) {
                        parity.add(Double.parseDouble(p.group(2)));
                        parityBatch = p.group(1);
                    }
                }
            }
        }
        if (results.isEmpty()) throw new IllegalStateException(work + ": no JMH results");

        StringBuilder o = new StringBuilder();
        String date = machine.get("date").asText(), kind = machine.get("host_kind").asText();
        o.append("# Forward pass on the CPU: ours vs ONNX Runtime (").append(date).append(", ").append(kind).append(")\n\n");
        o.append("Written by `bench/run-forward-bench.sh`; bench/README.md says what each number measures.\n");
        o.append("Model: all-MiniLM-L6-v2 (6 layers, dim 384, 12 heads of 32, FFN 1536, exact GELU), the entry `all-minilm-l6-v2.onnx` of `")
                .append(machine.get("model_jar").asText()).append("`. ONNX Runtime runs that file; ours runs the DistilBERT directory ")
                .append("`distilbert convert --from onnx` makes of it. One operation = one forward of a batch to `last_hidden_state` ")
                .append("[B, L, 384] in a host `float[]`. Tokens = real (unmasked) tokens.");
        if (machine.get("quick").asBoolean()) o.append(" **Quick run (`--quick`): checks the pipeline, not a result.**");
        o.append("\n\n");

        o.append("## Machine\n\n| | |\n| --- | --- |\n");
        o.append("| CPU | ").append(machine.get("cpu").asText()).append(", ").append(machine.get("nproc").asInt()).append(" cores (nproc)")
                .append(machine.get("avx512").asBoolean() ? ", AVX-512" : "").append(" |\n");
        o.append("| memory | ").append(machine.get("memory").asText()).append(" |\n");
        o.append("| OS | ").append(machine.get("kernel").asText()).append(" |\n");
        o.append("| JDK | ").append(machine.get("jdk").asText()).append(" |\n");
        o.append("| ONNX Runtime | ").append(machine.get("onnxruntime").asText()).append(" (Maven `com.microsoft.onnxruntime:onnxruntime`, CPU provider) |\n");
        o.append("| JMH | ").append(first.get("jmhVersion").asText()).append(" |\n\n");

        String scriptArgs = machine.hasNonNull("script_args") ? machine.get("script_args").asText().strip() : "";
        o.append("## Commands\n\n`bench/run-forward-bench.sh").append(scriptArgs.isEmpty() ? "" : " " + scriptArgs)
                .append("` ran (after building `bench` and its modules):\n\n```\n")
                .append(Files.readString(work.resolve("commands.txt"))).append("```\n\n");
        o.append("JMH: 1 fork, 1 benchmark thread, throughput mode; warmup ").append(first.get("warmupIterations").asInt()).append(" × ")
                .append(first.get("warmupTime").asText()).append(", measurement ").append(first.get("measurementIterations").asInt())
                .append(" × ").append(first.get("measurementTime").asText())
                .append(" (8x512: see its commands); score ± error is JMH's 99.9% interval. Forked JVM options: `")
                .append(String.join(" ", distinct(first.get("jvmArgs")))).append("`. ")
                .append("`threads` = our CPU backend's pool size and ONNX Runtime's intra-op threads (inter-op 1, sequential, ")
                .append("graph optimization level ALL_OPT); each trial's JVM keeps only the measured side's threads.\n\n");

        o.append("## Same computation\n\nEvery trial's setup runs the ragged batch (").append(parityBatch)
                .append(") on both sides and stops unless every sequence agrees with ONNX Runtime within relative L2 1e-4 at its real tokens. ");
        if (parity.isEmpty()) {
            o.append("**No trial printed its check.**\n\n");
        } else {
            o.append(String.format(Locale.ROOT, "Over the %d trials the worst sequence's relative L2 was %.2e to %.2e.%n%n", parity.size(),
                    parity.stream().mapToDouble(d -> d).min().orElseThrow(), parity.stream().mapToDouble(d -> d).max().orElseThrow()));
        }

        o.append("## Shapes\n\n| shape | B × L | real tokens / batch | padded tokens / batch |\n| --- | --- | ---: | ---: |\n");
        for (String s : ordered(shapes.keySet())) {
            Shape sh = shapes.get(s);
            o.append("| ").append(s).append(" | ").append(sh.batch()).append(" × ").append(sh.length()).append(" | ")
                    .append(sh.realTokens()).append(" | ").append(sh.paddedTokens()).append(" |\n");
        }
        o.append("\n`BxL`: random ids in [1000, 29000), full mask. `ragged32`: 32 texts of the tokenizer's parity corpus (a seeded draw, ")
                .append("cut to 128 tokens), right-padded to the longest; our packed batch skips the padding, ONNX Runtime computes it.\n\n");

        Map<Integer, List<Result>> byThreads = new TreeMap<>((a, b) -> b - a);
        for (Result r : results) byThreads.computeIfAbsent(r.threads(), t -> new ArrayList<>()).add(r);
        StringBuilder verdict = new StringBuilder();
        for (var e : byThreads.entrySet()) {
            int t = e.getKey();
            o.append("## ").append(t).append(t == 1 ? " thread" : " threads").append("\n\n");
            o.append("| shape | ours batches/s | ONNX Runtime batches/s | ours ms/batch | ORT ms/batch | ours seq/s | ORT seq/s | ")
                    .append("ours tokens/s | ORT tokens/s | ours/ORT time | best iterations | within 3× |\n");
            o.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
            List<String> fails = new ArrayList<>(), holds = new ArrayList<>();
            for (String s : ordered(shapesOf(e.getValue()))) {
                Result j = find(e.getValue(), "java", s), x = find(e.getValue(), "onnxRuntime", s);
                o.append("| ").append(s).append(" | ").append(scoreCell(j)).append(" | ").append(scoreCell(x)).append(" | ")
                        .append(j == null ? "–" : fmt(j.ms())).append(" | ").append(x == null ? "–" : fmt(x.ms())).append(" | ")
                        .append(j == null ? "–" : fmt(j.sequences())).append(" | ").append(x == null ? "–" : fmt(x.sequences())).append(" | ")
                        .append(j == null ? "–" : fmt(j.tokens())).append(" | ").append(x == null ? "–" : fmt(x.tokens())).append(" | ");
                if (j != null && x != null) {
                    double ratio = x.score() / j.score();
                    o.append(String.format(Locale.ROOT, "%.2f×", ratio));
                    if (!Double.isNaN(x.error()) && !Double.isNaN(j.error())) {
                        double lo = (x.score() - x.error()) / (j.score() + j.error());
                        double hi = (x.score() + x.error()) / Math.max(1e-12, j.score() - j.error());
                        o.append(String.format(Locale.ROOT, " [%.2f, %.2f]", lo, hi));
                    }
                    o.append(String.format(Locale.ROOT, " | %.2f× | ", best(x) / best(j)))
                            .append(ratio <= TARGET ? "yes" : "**no**").append(" |");
                    (ratio <= TARGET ? holds : fails).add(s + String.format(Locale.ROOT, " (%.2f×)", ratio));
                } else {
                    o.append("– | – | – |");
                }
                o.append('\n');
            }
            o.append('\n');
            if (t == 2) {
                verdict.append(fails.isEmpty()
                        ? "**The 3× target holds** on every shape with 2 threads: " + String.join(", ", holds) + ".\n"
                        : "**The 3× target does not hold** with 2 threads on " + String.join(", ", fails)
                                + (holds.isEmpty() ? "" : "; it holds on " + String.join(", ", holds)) + ".\n");
            }
        }
        o.append("ours/ORT time = ONNX Runtime's batches/s over ours: how many times longer our forward takes (the bracket: the ratio at ")
                .append("the ends of both 99.9% intervals); best iterations = the same ratio between the fastest measured iteration of each side, ")
                .append("which other processes on a shared machine disturb least. Sequences/s = batches/s × B; tokens/s = batches/s × real tokens per batch ")
                .append("(the `sequences` and `tokens` aux counters).\n\n");
        o.append("## Target\n\n").append(verdict.isEmpty() ? "No 2-thread results in this run.\n" : verdict).append('\n');

        o.append("## Per-iteration scores (batches/s)\n\n| side | threads | shape | iterations |\n| --- | ---: | --- | --- |\n");
        for (var e : byThreads.entrySet()) {
            for (String side : List.of("java", "onnxRuntime")) {
                for (String s : ordered(shapesOf(e.getValue()))) {
                    Result r = find(e.getValue(), side, s);
                    if (r == null) continue;
                    o.append("| ").append(side).append(" | ").append(e.getKey()).append(" | ").append(s).append(" | ")
                            .append(String.join(", ", r.iterations().stream().map(ForwardReport::fmt).toList())).append(" |\n");
                }
            }
        }
        o.append('\n');

        Path phases = work.resolve("phases.txt");
        if (Files.exists(phases)) {
            o.append("## Background load\n\nEach phase waited for an idle machine, then counted the CPU time other processes took while it ran ")
                    .append("(a phase over 2% of the machine is run again, up to the attempts allowed; the least disturbed is kept).\n\n")
                    .append("| phase | wall s | other processes CPU s | attempts |\n| --- | ---: | ---: | ---: |\n");
            for (String line : Files.readAllLines(phases)) {
                String[] f = line.trim().split("\\s+");
                if (f.length == 4) o.append("| ").append(f[0]).append(" | ").append(f[1]).append(" | ").append(f[2]).append(" | ").append(f[3]).append(" |\n");
            }
            o.append('\n');
        }
        return o.toString();
    }

    private static List<String> distinct(JsonNode args) {
        // JMH lists the host JVM's options, then @Fork's jvmArgsAppend: show each option once.
        List<String> out = new ArrayList<>();
        List<String> raw = new ArrayList<>();
        args.forEach(a -> raw.add(a.asText()));
        for (int i = 0; i < raw.size(); i++) {
            String a = raw.get(i);
            if (a.equals("--add-modules") && i + 1 < raw.size()) a = a + "=" + raw.get(++i);
            if (!out.contains(a)) out.add(a);
        }
        return out;
    }

    private static Set<String> shapesOf(List<Result> rs) {
        Set<String> s = new LinkedHashSet<>();
        for (Result r : rs) s.add(r.shape());
        return s;
    }

    private static List<String> ordered(Set<String> shapes) {
        List<String> out = new ArrayList<>();
        for (String s : SHAPE_ORDER) if (shapes.contains(s)) out.add(s);
        for (String s : shapes) if (!out.contains(s)) out.add(s);
        return out;
    }

    private static Result find(List<Result> rs, String side, String shape) {
        for (Result r : rs) if (r.side().equals(side) && r.shape().equals(shape)) return r;
        return null;
    }

    /** The fastest measured iteration: on a shared machine, the one least slowed by other processes. */
    private static double best(Result r) {
        return r.iterations().stream().mapToDouble(d -> d).max().orElse(r.score());
    }

    private static double number(JsonNode n) {
        return n.isNumber() ? n.asDouble() : Double.NaN; // JMH writes "NaN" as a string
    }

    private static String scoreCell(Result r) {
        if (r == null) return "–";
        return Double.isNaN(r.error()) ? fmt(r.score()) : fmt(r.score()) + " ± " + fmt(r.error());
    }

    /** Three significant digits, no exponent. */
    static String fmt(double v) {
        if (Double.isNaN(v)) return "NaN";
        double a = Math.abs(v);
        String f = a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3f";
        return String.format(Locale.ROOT, f, v);
    }
}
