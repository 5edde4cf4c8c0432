package distilbert.weights;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A DistilBERT model's parameters as float32 arrays under their HF names, checked against its
 * config: what {@link ModelDirectory#load} returns.
 *
 * @param config            the config the tensors were checked against
 * @param head              the model class they were loaded for
 * @param source            where they came from ("model.safetensors", "pytorch_model.bin", "initialized", …)
 * @param tensors           every parameter that owns storage, in {@link DistilBertParameters#layout} order,
 *                          row-major float32; tied parameters are left out and resolved by {@link #get}
 * @param newlyInitialized  parameters the checkpoint lacked, initialised by {@link Initializer} as HF
 *                          initialises them (a head's classifier when loading a base checkpoint)
 * @param unexpected        tensors of the file this model does not use (HF: "Some weights of the model
 *                          checkpoint were not used")
 * @param warnings          human-readable notes (the two lists above, legacy names, untied copies)
 */
public record Checkpoint(
        DistilBertConfig config,
        Head head,
        String source,
        Map<String, float[]> tensors,
        List<String> newlyInitialized,
        List<String> unexpected,
        List<String> warnings) {

    public Checkpoint {
        tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
        newlyInitialized = List.copyOf(newlyInitialized);
        unexpected = List.copyOf(unexpected);
        warnings = List.copyOf(warnings);
    }

    /** A freshly initialised model (HF's {@code Model(config)}), as {@link Initializer} does it. */
    public static Checkpoint initialized(DistilBertConfig config, Head head, long seed) {
        return new Checkpoint(config, head, "initialized (seed " + seed + ")", Initializer.initialize(config, head, seed),
                List.of(), List.of(), List.of());
    }

    /** The parameter layout these tensors follow. */
    public List<ParameterSpec> specs() {
        return DistilBertParameters.layout(config, head);
    }

    public boolean has(String name) {
        return resolve(name) != null;
    }

    /**
     * The values of a parameter, by HF name with or without the {@code distilbert.} prefix; a tied
     * parameter returns its owner's array. The array is shared, not copied: do not modify it.
     */
    public float[] get(String name) {
        float[] v = resolve(name);
        if (v == null) throw new IllegalArgumentException("no parameter '" + name + "' in " + head.hfClass());
        return v;
    }

    private float[] resolve(String name) {
        String n = DistilBertParameters.nameFor(head, name);
        float[] v = tensors.get(n);
        if (v != null) return v;
        for (ParameterSpec s : specs()) {
            if (s.name().equals(n) && s.isTied()) return tensors.get(s.tiedTo());
        }
        return null;
    }

    /** All parameters copied into one buffer laid out by {@code table} (which must be for the same config and head). */
    public float[] toSlab(DistilBertParameters.Table table) {
        float[] slab = new float[Math.toIntExact(table.numel())];
        for (ParameterSpec s : table.owned()) {
            float[] v = get(s.name());
            if (v.length != s.numel()) {
                throw new IllegalArgumentException(s.name() + " has " + v.length + " values, the table expects " + s.numel());
            }
            System.arraycopy(v, 0, slab, Math.toIntExact(table.offset(s.name())), v.length);
        }
        return slab;
    }
}
