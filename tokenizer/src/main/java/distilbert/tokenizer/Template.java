package distilbert.tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * The post-processor: where special tokens go around one sequence or a pair, and the type id of
 * each part, as HuggingFace's {@code TemplateProcessing} (BERT's {@code [CLS] $A [SEP]} and
 * {@code [CLS] $A [SEP] $B:1 [SEP]:1}). {@code BertProcessing} is the same template.
 */
record Template(List<Piece> single, List<Piece> pair) {
    /** One element of a template: a sequence (A = 0, B = 1) or a special token, with its type id. */
    record Piece(int sequence, SpecialTokens special, int typeId) {
        boolean isSequence() {
            return special == null;
        }
    }

    /** A special token of the template: one or more ids and their tokens. */
    record SpecialTokens(String name, int[] ids, String[] tokens) {}

    static Template bert(SpecialTokens cls, SpecialTokens sep) {
        return new Template(
                List.of(new Piece(-1, cls, 0), new Piece(0, null, 0), new Piece(-1, sep, 0)),
                List.of(new Piece(-1, cls, 0), new Piece(0, null, 0), new Piece(-1, sep, 0),
                        new Piece(1, null, 1), new Piece(-1, sep, 1)));
    }

    static final Template NONE = new Template(
            List.of(new Piece(0, null, 0)), List.of(new Piece(0, null, 0), new Piece(1, null, 1)));

    int addedTokens(boolean isPair) {
        int n = 0;
        for (Piece p : isPair ? pair : single) if (!p.isSequence()) n += p.special.ids().length;
        return n;
    }

    /**
     * {@code TemplateProcessing::process}: lay the parts out, then merge (overflowing windows
     * included). Like HF, the template sets the type ids of the sequence, not of its overflowing windows.
     */
    Encoding apply(Encoding a, Encoding b, boolean addSpecialTokens) {
        List<Encoding> parts = new ArrayList<>();
        for (Piece p : b == null ? single : pair) {
            if (p.isSequence()) {
                parts.add((p.sequence == 0 ? a : b).withTypeIds(p.typeId));
            } else if (addSpecialTokens) {
                parts.add(specialEncoding(p.special, p.typeId));
            }
        }
        return Encoding.merge(parts);
    }

    /** The ids of a template applied to bare id sequences ({@code build_inputs_with_special_tokens}). */
    int[][] applyIds(int[] a, int[] b) {
        List<Integer> ids = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        List<Integer> special = new ArrayList<>();
        for (Piece p : b == null ? single : pair) {
            int[] src = p.isSequence() ? (p.sequence == 0 ? a : b) : p.special.ids();
            for (int id : src) {
                ids.add(id);
                types.add(p.typeId);
                special.add(p.isSequence() ? 0 : 1);
            }
        }
        return new int[][] {toArray(ids), toArray(types), toArray(special)};
    }

    private static int[] toArray(List<Integer> l) {
        return l.stream().mapToInt(Integer::intValue).toArray();
    }

    private static Encoding specialEncoding(SpecialTokens s, int typeId) {
        int n = s.ids().length;
        int[] types = new int[n], none = new int[n], zeros = new int[n], ones = new int[n];
        java.util.Arrays.fill(types, typeId);
        java.util.Arrays.fill(none, -1);
        java.util.Arrays.fill(ones, 1);
        return new Encoding(s.ids().clone(), types, s.tokens().clone(), none, none.clone(), zeros, zeros.clone(), ones,
                ones.clone(), List.of(), new String[2]);
    }
}
