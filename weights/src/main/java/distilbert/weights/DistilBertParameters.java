package distilbert.weights;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
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
 *
 * <p>The slab ({@link #table}) also packs some parameters into {@link Group}s, back to back, so that
 * a group is itself a tensor ({@link #groups}): per layer, q_lin, k_lin and v_lin as one {@code [3C, C]}
 * weight and one {@code [3C]} bias, for one matrix product of 3C outputs instead of three of C.
 */
public final class DistilBertParameters {
    private DistilBertParameters() {}

    /** The attribute under which every head holds the encoder. */
    public static final String PREFIX = "distilbert.";
    public static final String WORD_EMBEDDINGS = "embeddings.word_embeddings.weight";
    public static final String POSITION_EMBEDDINGS = "embeddings.position_embeddings.weight";
    public static final String VOCAB_PROJECTOR_WEIGHT = "vocab_projector.weight";
    /** The group of layer {@code i}'s q_lin, k_lin and v_lin weights (after the layer's prefix), {@code [3C, C]}. */
    public static final String QKV_WEIGHT = "attention.qkv_lin.weight";
    /** The group of layer {@code i}'s q_lin, k_lin and v_lin biases (after the layer's prefix), {@code [3C]}. */
    public static final String QKV_BIAS = "attention.qkv_lin.bias";

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

    /**
     * The groups of {@code head}'s layout that the slab packs back to back (see {@link Group}): for
     * every layer {@code transformer.layer.{i}.} (with the head's prefix), {@link #QKV_WEIGHT} over
     * the q_lin, k_lin, v_lin weights and {@link #QKV_BIAS} over their biases, in that order.
     */
    public static List<Group> groups(DistilBertConfig config, Head head) {
        Map<String, ParameterSpec> byName = new LinkedHashMap<>();
        for (ParameterSpec s : layout(config, head)) byName.put(s.name(), s);
        String p = head == Head.BASE ? "" : PREFIX;
        List<Group> out = new ArrayList<>();
        for (int i = 0; i < config.nLayers(); i++) {
            String l = p + "transformer.layer." + i + ".";
            for (String leaf : List.of("weight", "bias")) {
                List<ParameterSpec> members = new ArrayList<>();
                for (String lin : List.of("q_lin", "k_lin", "v_lin")) {
                    members.add(byName.get(l + "attention." + lin + "." + leaf));
                }
                out.add(new Group(l + (leaf.equals("weight") ? QKV_WEIGHT : QKV_BIAS), members));
            }
        }
        return List.copyOf(out);
    }

    /** {@link #table(DistilBertConfig, Head, int)} without alignment. */
    public static Table table(DistilBertConfig config, Head head) {
        return table(config, head, 1);
    }

    /**
     * The one-slab layout (STYLE habit 5): every parameter a view at an element offset into one
     * float buffer; a tied parameter has its owner's offset. Parameters are placed in {@link #layout}
     * order, except that the members of a {@link #groups group} are placed together, back to back in
     * the group's order, where its first member comes: the slab holds q_lin.weight, k_lin.weight,
     * v_lin.weight, then q_lin.bias, k_lin.bias, v_lin.bias, then out_lin.weight. Each parameter not
     * in a group, and each group, starts at a multiple of {@code alignElements} (e.g. 64 floats = 256
     * bytes for vector loads); the members after a group's first are not padded.
     */
    public static Table table(DistilBertConfig config, Head head, int alignElements) {
        if (alignElements <= 0) throw new IllegalArgumentException("alignElements must be positive, got " + alignElements);
        List<ParameterSpec> specs = layout(config, head);
        List<Group> groups = groups(config, head);
        Map<String, Group> groupOf = new LinkedHashMap<>();
        for (Group g : groups) for (ParameterSpec m : g.members()) groupOf.put(m.name(), g);
        Map<String, Long> offsets = new LinkedHashMap<>();
        long next = 0;
        for (ParameterSpec s : specs) {
            if (s.isTied() || offsets.containsKey(s.name())) continue;
            next = (next + alignElements - 1) / alignElements * alignElements;
            Group g = groupOf.get(s.name());
            for (ParameterSpec m : g == null ? List.of(s) : g.members()) {
                offsets.put(m.name(), next);
                next += m.numel();
            }
        }
        for (ParameterSpec s : specs) {
            if (s.isTied()) offsets.put(s.name(), offsets.get(s.tiedTo()));
        }
        return new Table(specs, Collections.unmodifiableMap(offsets), groups, next);
    }

    /**
     * Parameters that the slab packs back to back, with no padding, so that together they are one
     * tensor: the members' shapes share every dimension but the first, and the group's shape is
     * theirs with the first dimensions summed ({@code [C, C]} three times → {@code [3C, C]}). The
     * group's name is not a state-dict key: checkpoints hold the members, under their own names.
     *
     * @param name    e.g. {@code transformer.layer.0.attention.qkv_lin.weight}
     * @param members in slab order; none tied
     */
    public record Group(String name, List<ParameterSpec> members) {
        public Group {
            members = List.copyOf(members);
            if (members.isEmpty()) throw new IllegalArgumentException("group " + name + " has no members");
            long[] first = members.get(0).shape();
            for (ParameterSpec m : members) {
                long[] shape = m.shape();
                boolean same = m.rank() == first.length && !m.isTied();
                for (int d = 1; same && d < shape.length; d++) same = shape[d] == first[d];
                if (!same) {
                    throw new IllegalArgumentException("group " + name + ": " + m + " does not stack on " + members.get(0));
                }
            }
        }

        /** The members stacked along the first dimension. */
        public long[] shape() {
            long[] shape = members.get(0).shape();
            shape[0] = 0;
            for (ParameterSpec m : members) shape[0] += m.dim(0);
            return shape;
        }

        public long numel() {
            return members.stream().mapToLong(ParameterSpec::numel).sum();
        }
    }

    /**
     * @param specs    the layout, in HF order (tied entries included)
     * @param offsets  element offset of each parameter into the slab
     * @param groups   the groups packed back to back; a group's offset is its first member's
     * @param numel    total elements of the slab (tied parameters counted once)
     */
    public record Table(List<ParameterSpec> specs, Map<String, Long> offsets, List<Group> groups, long numel) {
        public long offset(String name) {
            Long o = offsets.get(name);
            if (o == null) throw new IllegalArgumentException("no parameter '" + name + "' in this layout");
            return o;
        }

        public ParameterSpec spec(String name) {
            for (ParameterSpec s : specs) if (s.name().equals(name)) return s;
            throw new IllegalArgumentException("no parameter '" + name + "' in this layout");
        }

        public Group group(String name) {
            for (Group g : groups) if (g.name().equals(name)) return g;
            throw new IllegalArgumentException("no parameter group '" + name + "' in this layout");
        }

        /** Element offset of a group: its first member's. */
        public long groupOffset(String name) {
            return offset(group(name).members().get(0).name());
        }

        /** Parameters that own storage (tied ones left out), in slab order (ascending offset). */
        public List<ParameterSpec> owned() {
            return specs.stream().filter(s -> !s.isTied()).sorted(Comparator.comparingLong(s -> offsets.get(s.name())))
                    .toList();
        }
    }
}
