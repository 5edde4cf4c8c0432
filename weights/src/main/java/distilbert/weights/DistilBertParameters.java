package distilbert.weights;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parameters of each DistilBERT model class: HF's exact state-dict names and shapes, in HF's
 * module order (the order of {@code model.state_dict()}), and the one-slab table built from them.
 *
 * <pre>
 * embeddings.word_embeddings.weight                  [V, C]   (padding_idx = pad_token_id)
 * embeddings.position_embeddings.weight              [P, C]   (sin/cos table, frozen, when sinusoidal_pos_embds)
 * embeddings.LayerNorm.{weight,bias}                 [C]
 * transformer.layer.{i}.attention.{q,k,v,out}_lin.weight [C, C], .bias [C]
 * transformer.layer.{i}.sa_layer_norm.{weight,bias}  [C]
 * transformer.layer.{i}.ffn.lin1.weight [F, C], .bias [F]
 * transformer.layer.{i}.ffn.lin2.weight [C, F], .bias [C]
 * transformer.layer.{i}.output_layer_norm.{weight,bias} [C]
 * </pre>
 * Heads prefix the encoder with {@code distilbert.} and add their own (see {@link Head}).
 */
public final class DistilBertParameters {
    private DistilBertParameters() {}

    /** The attribute under which every head holds the encoder. */
    public static final String PREFIX = "distilbert.";
    public static final String WORD_EMBEDDINGS = "embeddings.word_embeddings.weight";
    public static final String POSITION_EMBEDDINGS = "embeddings.position_embeddings.weight";
    public static final String VOCAB_PROJECTOR_WEIGHT = "vocab_projector.weight";

    /** HF's state-dict names and shapes for {@code head}, in HF's order. */
    public static List<ParameterSpec> layout(DistilBertConfig config, Head head) {
        long V = config.vocabSize(), P = config.maxPositionEmbeddings(), C = config.dim(), F = config.hiddenDim();
        long N = config.numLabels();
        String p = head == Head.BASE ? "" : PREFIX;
        List<ParameterSpec> out = new ArrayList<>();
        out.add(new ParameterSpec(p + WORD_EMBEDDINGS, V, C));
        out.add(new ParameterSpec(p + POSITION_EMBEDDINGS, P, C));
        layerNorm(out, p + "embeddings.LayerNorm", C);
        for (int i = 0; i < config.nLayers(); i++) {
            String l = p + "transformer.layer." + i + ".";
            linear(out, l + "attention.q_lin", C, C);
            linear(out, l + "attention.k_lin", C, C);
            linear(out, l + "attention.v_lin", C, C);
            linear(out, l + "attention.out_lin", C, C);
            layerNorm(out, l + "sa_layer_norm", C);
            linear(out, l + "ffn.lin1", F, C);
            linear(out, l + "ffn.lin2", C, F);
            layerNorm(out, l + "output_layer_norm", C);
        }
        switch (head) {
            case BASE -> { }
            case MASKED_LM -> {
                linear(out, "vocab_transform", C, C);
                layerNorm(out, "vocab_layer_norm", C);
                out.add(new ParameterSpec(VOCAB_PROJECTOR_WEIGHT, new long[] {V, C},
                        config.tieWordEmbeddings() ? PREFIX + WORD_EMBEDDINGS : null));
                out.add(new ParameterSpec("vocab_projector.bias", V));
            }
            case SEQUENCE_CLASSIFICATION -> {
                linear(out, "pre_classifier", C, C);
                linear(out, "classifier", N, C);
            }
            case MULTIPLE_CHOICE -> {
                linear(out, "pre_classifier", C, C);
                linear(out, "classifier", 1, C);
            }
            case TOKEN_CLASSIFICATION -> linear(out, "classifier", N, C);
            case QUESTION_ANSWERING -> linear(out, "qa_outputs", 2, C);
        }
        return List.copyOf(out);
    }

    private static void linear(List<ParameterSpec> out, String name, long outFeatures, long inFeatures) {
        out.add(new ParameterSpec(name + ".weight", outFeatures, inFeatures));
        out.add(new ParameterSpec(name + ".bias", outFeatures));
    }

    private static void layerNorm(List<ParameterSpec> out, String name, long c) {
        out.add(new ParameterSpec(name + ".weight", c));
        out.add(new ParameterSpec(name + ".bias", c));
    }

    /** The name without the {@code distilbert.} prefix (head parameters are returned unchanged). */
    public static String stripPrefix(String name) {
        return name.startsWith(PREFIX) ? name.substring(PREFIX.length()) : name;
    }

    /** True for encoder parameters (embeddings.*, transformer.*), with or without the prefix. */
    public static boolean isEncoderParameter(String name) {
        String n = stripPrefix(name);
        return n.startsWith("embeddings.") || n.startsWith("transformer.");
    }

    /**
     * The name this parameter has in {@code head}'s state dict: encoder names get or lose the
     * {@code distilbert.} prefix, head names stay. This is how HF maps a DistilBertModel checkpoint
     * into a head model and back.
     */
    public static String nameFor(Head head, String name) {
        if (!isEncoderParameter(name)) return name;
        String bare = stripPrefix(name);
        return head == Head.BASE ? bare : PREFIX + bare;
    }

    /**
     * False for parameters HF does not train: the position table when {@code sinusoidal_pos_embds}
     * (create_sinusoidal_embeddings sets requires_grad = False). Tied parameters train through
     * their owner.
     */
    public static boolean isTrainable(DistilBertConfig config, String name) {
        return !(config.sinusoidalPosEmbds() && stripPrefix(name).equals(POSITION_EMBEDDINGS));
    }

    /** {@link #table(DistilBertConfig, Head, int)} without alignment. */
    public static Table table(DistilBertConfig config, Head head) {
        return table(config, head, 1);
    }

    /**
     * The one-slab layout (STYLE habit 5): every parameter a view at an element offset into one
     * float buffer, in {@link #layout} order; a tied parameter has its owner's offset. Offsets are
     * rounded up to a multiple of {@code alignElements} (e.g. 64 floats = 256 bytes for vector loads).
     */
    public static Table table(DistilBertConfig config, Head head, int alignElements) {
        if (alignElements <= 0) throw new IllegalArgumentException("alignElements must be positive, got " + alignElements);
        List<ParameterSpec> specs = layout(config, head);
        Map<String, Long> offsets = new LinkedHashMap<>();
        long next = 0;
        for (ParameterSpec s : specs) {
            if (s.isTied()) continue;
            next = (next + alignElements - 1) / alignElements * alignElements;
            offsets.put(s.name(), next);
            next += s.numel();
        }
        for (ParameterSpec s : specs) {
            if (s.isTied()) offsets.put(s.name(), offsets.get(s.tiedTo()));
        }
        return new Table(specs, Collections.unmodifiableMap(offsets), next);
    }

    /**
     * @param specs    the layout, in HF order (tied entries included)
     * @param offsets  element offset of each parameter into the slab
     * @param numel    total elements of the slab (tied parameters counted once)
     */
    public record Table(List<ParameterSpec> specs, Map<String, Long> offsets, long numel) {
        public long offset(String name) {
            Long o = offsets.get(name);
            if (o == null) throw new IllegalArgumentException("no parameter '" + name + "' in this layout");
            return o;
        }

        public ParameterSpec spec(String name) {
            for (ParameterSpec s : specs) if (s.name().equals(name)) return s;
            throw new IllegalArgumentException("no parameter '" + name + "' in this layout");
        }

        /** Parameters that own storage (tied ones left out), in slab order. */
        public List<ParameterSpec> owned() {
            return specs.stream().filter(s -> !s.isTied()).toList();
        }
    }
}
