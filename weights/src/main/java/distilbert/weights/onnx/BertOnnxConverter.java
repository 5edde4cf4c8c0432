package distilbert.weights.onnx;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns a BERT encoder exported to ONNX by PyTorch (HuggingFace's BertModel: the layout of
 * sentence-transformers' all-MiniLM-L6-v2 and its kin) into DistilBERT parameters. Run with
 * token_type_ids = 0, BERT computes exactly what DistilBERT computes once
 * {@code token_type_embeddings[0]} is added into the position embeddings, the pooler is dropped,
 * the modules are renamed, and the MatMul weights ([in, out] in ONNX) are transposed to
 * PyTorch's Linear layout [out, in].
 *
 * <p>The graph is checked for what DistilBERT cannot express: layer-norm epsilon other than
 * 1e-12, an activation other than erf GELU, a head count it cannot find. Names and shapes of the
 * result are HuggingFace's DistilBertModel state dict (no {@code distilbert.} prefix).
 */
public final class BertOnnxConverter {
    /** A converted parameter: HF DistilBertModel name, PyTorch shape, float32 data (row-major). */
    public record Parameter(String name, long[] shape, float[] data) {}

    /** The architecture read off the graph, and the parameters. */
    public record Result(int vocabSize, int maxPositionEmbeddings, int nLayers, int nHeads, int dim, int hiddenDim,
                         String activation, List<Parameter> parameters, List<String> ignored) {}

    private static final Pattern LAYER_MATMUL = Pattern.compile(
            "/encoder/layer\\.(\\d+)/(attention/self/query|attention/self/key|attention/self/value|attention/output/dense|intermediate/dense|output/dense)/MatMul");
    private static final Map<String, String> MODULES = Map.of(
            "attention/self/query", "attention.q_lin", "attention/self/key", "attention.k_lin",
            "attention/self/value", "attention.v_lin", "attention/output/dense", "attention.out_lin",
            "intermediate/dense", "ffn.lin1", "output/dense", "ffn.lin2");
    private static final Map<String, String> BIASES = Map.of(
            "attention.self.query", "attention.q_lin", "attention.self.key", "attention.k_lin",
            "attention.self.value", "attention.v_lin", "attention.output.dense", "attention.out_lin",
            "intermediate.dense", "ffn.lin1", "output.dense", "ffn.lin2");

    private final OnnxModel model;
    private final Map<String, OnnxModel.Node> producerOf = new HashMap<>();
    private final Map<String, OnnxModel.Initializer> used = new LinkedHashMap<>();

    private BertOnnxConverter(OnnxModel model) {
        this.model = model;
        for (OnnxModel.Node n : model.nodes()) for (String o : n.outputs()) producerOf.put(o, n);
    }

    /** @throws OnnxFormatException naming the file and what does not fit DistilBERT */
    public static Result convert(OnnxModel model) {
        return new BertOnnxConverter(model).run();
    }

    private Result run() {
        OnnxModel.Initializer words = require("embeddings.word_embeddings.weight", 2);
        OnnxModel.Initializer positions = require("embeddings.position_embeddings.weight", 2);
        int vocab = (int) words.dims()[0], dim = (int) words.dims()[1], maxPos = (int) positions.dims()[0];
        checkShape(positions, maxPos, dim);

        List<Parameter> out = new ArrayList<>();
        out.add(new Parameter("embeddings.word_embeddings.weight", words.dims(), words.floats()));
        // BERT adds token_type_embeddings[token_type_id]; with ids all 0 that is one fixed row.
        float[] pos = positions.floats().clone();
        OnnxModel.Initializer types = model.initializers().get("embeddings.token_type_embeddings.weight");
        if (types != null) {
            used.put(types.name(), types);
            checkShape(types, types.dims()[0], dim);
            for (int p = 0; p < maxPos; p++) for (int c = 0; c < dim; c++) pos[p * dim + c] += types.floats()[c];
        }
        out.add(new Parameter("embeddings.position_embeddings.weight", positions.dims(), pos));
        layerNorm(out, "embeddings.LayerNorm", "embeddings.LayerNorm", dim, "/embeddings/LayerNorm/");

        Map<String, OnnxModel.Initializer> matmuls = new HashMap<>();
        int nLayers = 0;
        for (OnnxModel.Node n : model.nodes()) {
            Matcher m = LAYER_MATMUL.matcher(n.name());
            if (!n.opType().equals("MatMul") || !m.matches()) continue;
            OnnxModel.Initializer w = model.initializers().get(n.inputs().get(1));
            if (w == null) throw bad("MatMul " + n.name() + " takes its weight from '" + n.inputs().get(1) + "', which is not an initializer");
            matmuls.put(m.group(1) + "/" + m.group(2), w);
            nLayers = Math.max(nLayers, Integer.parseInt(m.group(1)) + 1);
        }
        if (nLayers == 0) throw bad("no encoder layers found (expected MatMul nodes named /encoder/layer.N/...)");
        int hidden = -1;
        for (int i = 0; i < nLayers; i++) {
            String src = "encoder.layer." + i + ".", dst = "transformer.layer." + i + ".";
            for (String module : List.of("attention/self/query", "attention/self/key", "attention/self/value", "attention/output/dense",
                    "intermediate/dense", "output/dense")) {
                OnnxModel.Initializer w = matmuls.get(i + "/" + module);
                if (w == null) throw bad("layer " + i + " has no " + module + " MatMul");
                used.put(w.name(), w);
                if (module.equals("intermediate/dense")) hidden = (int) w.dims()[1];
                long in = module.equals("output/dense") ? hidden : dim;
                long outDim = module.equals("intermediate/dense") ? hidden : dim;
                checkShape(w, in, outDim);
                String name = dst + MODULES.get(module);
                out.add(new Parameter(name + ".weight", new long[] {outDim, in}, transpose(w.floats(), (int) in, (int) outDim)));
                String biasSrc = src + module.replace('/', '.') + ".bias";
                OnnxModel.Initializer b = require(biasSrc, 1);
                checkShape(b, outDim);
                out.add(new Parameter(name + ".bias", b.dims(), b.floats()));
            }
            layerNorm(out, src + "attention.output.LayerNorm", dst + "sa_layer_norm", dim, "/encoder/layer." + i + "/attention/output/LayerNorm/");
            layerNorm(out, src + "output.LayerNorm", dst + "output_layer_norm", dim, "/encoder/layer." + i + "/output/LayerNorm/");
            requireErfGelu(i);
        }
        int heads = heads(dim);
        List<String> ignored = new ArrayList<>();
        for (OnnxModel.Initializer t : model.initializers().values()) {
            if (!used.containsKey(t.name()) && t.floats() != null && !t.name().equals("embeddings.position_ids")) ignored.add(t.name());
        }
        return new Result(vocab, maxPos, nLayers, heads, dim, hidden, "gelu", out, ignored);
    }

    private void layerNorm(List<Parameter> out, String src, String dst, int dim, String scope) {
        OnnxModel.Initializer w = require(src + ".weight", 1), b = require(src + ".bias", 1);
        checkShape(w, dim);
        checkShape(b, dim);
        // PyTorch exports LayerNorm as ReduceMean/Sub/Pow/ReduceMean/Add(eps)/Sqrt/Div: find the eps.
        for (OnnxModel.Node n : model.nodes()) {
            if (!n.name().startsWith(scope) || !n.opType().equals("Add")) continue;
            for (String in : n.inputs()) {
                OnnxModel.Node c = producerOf.get(in);
                float[] v = c != null && c.tensorAttribute() != null ? c.tensorAttribute().floats() : null;
                if (v != null && v.length == 1 && n.inputs().get(0).contains("ReduceMean") && Math.abs(v[0] - 1e-12f) > 1e-15f) {
                    throw bad(src + " has layer-norm epsilon " + v[0] + "; DistilBERT's is fixed at 1e-12");
                }
            }
        }
        out.add(new Parameter(dst + ".weight", w.dims(), w.floats()));
        out.add(new Parameter(dst + ".bias", b.dims(), b.floats()));
    }

    private void requireErfGelu(int layer) {
        String scope = "/encoder/layer." + layer + "/intermediate/intermediate_act_fn/";
        boolean erf = model.nodes().stream().anyMatch(n -> n.name().startsWith(scope) && n.opType().equals("Erf"));
        if (!erf) throw bad("layer " + layer + "'s activation is not erf GELU (no Erf node under " + scope + ")");
    }

    /** The attention scores are divided by sqrt(head size): heads = dim / that squared. */
    private int heads(int dim) {
        for (OnnxModel.Node n : model.nodes()) {
            if (!n.name().equals("/encoder/layer.0/attention/self/Div")) continue;
            OnnxModel.Node c = producerOf.get(n.inputs().get(1));
            if (c == null || c.tensorAttribute() == null || c.tensorAttribute().floats() == null) break;
            double headSize = Math.pow(c.tensorAttribute().floats()[0], 2);
            long hs = Math.round(headSize);
            if (Math.abs(headSize - hs) > 1e-3 || hs <= 0 || dim % hs != 0) {
                throw bad("attention scale " + c.tensorAttribute().floats()[0] + " is not sqrt of a head size dividing " + dim);
            }
            return (int) (dim / hs);
        }
        throw bad("cannot find the number of attention heads (no scale constant at /encoder/layer.0/attention/self/Div)");
    }

    private OnnxModel.Initializer require(String name, int rank) {
        OnnxModel.Initializer t = model.initializers().get(name);
        if (t == null) throw bad("missing initializer '" + name + "'");
        if (t.dims().length != rank || t.floats() == null) {
            throw bad("initializer '" + name + "' should be a float tensor of rank " + rank + ", has shape " + java.util.Arrays.toString(t.dims()));
        }
        used.put(name, t);
        return t;
    }

    private void checkShape(OnnxModel.Initializer t, long... want) {
        if (!java.util.Arrays.equals(t.dims(), want)) {
            throw bad("initializer '" + t.name() + "' has shape " + java.util.Arrays.toString(t.dims()) + ", expected "
                    + java.util.Arrays.toString(want));
        }
    }

    private static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[a.length];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
        return t;
    }

    private OnnxFormatException bad(String what) {
        return new OnnxFormatException(model.file() + ": " + what);
    }
}
