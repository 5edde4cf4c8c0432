package distilbert.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class DistilBertParametersTest {
    static long total(List<ParameterSpec> specs) {
        return specs.stream().filter(s -> !s.isTied()).mapToLong(ParameterSpec::numel).sum();
    }

    @Test
    void parameterCountsMatchHf() {
        DistilBertConfig c = DistilBertConfig.defaults();
        // sum(p.numel() for p in model.parameters()) in transformers (tied parameters counted once)
        assertEquals(66_362_880L, total(DistilBertParameters.layout(c, Head.BASE)));
        assertEquals(66_985_530L, total(DistilBertParameters.layout(c, Head.MASKED_LM)));
        assertEquals(66_955_010L, total(DistilBertParameters.layout(c, Head.SEQUENCE_CLASSIFICATION)));
        assertEquals(66_954_241L, total(DistilBertParameters.layout(c, Head.MULTIPLE_CHOICE)));
        assertEquals(66_364_418L, total(DistilBertParameters.layout(c, Head.TOKEN_CLASSIFICATION)));
        assertEquals(66_364_418L, total(DistilBertParameters.layout(c, Head.QUESTION_ANSWERING)));
        assertEquals(4 + 6 * 16, DistilBertParameters.layout(c, Head.BASE).size());
    }

    @Test
    void namesAndShapesInHfOrder() {
        DistilBertConfig c = DistilBertConfig.builder().nLayers(1).numLabels(3).build();
        List<String> names = DistilBertParameters.layout(c, Head.SEQUENCE_CLASSIFICATION).stream().map(ParameterSpec::toString).toList();
        assertEquals(List.of(
                "distilbert.embeddings.word_embeddings.weight [30522, 768]",
                "distilbert.embeddings.position_embeddings.weight [512, 768]",
                "distilbert.embeddings.LayerNorm.weight [768]",
                "distilbert.embeddings.LayerNorm.bias [768]",
                "distilbert.transformer.layer.0.attention.q_lin.weight [768, 768]",
                "distilbert.transformer.layer.0.attention.q_lin.bias [768]",
                "distilbert.transformer.layer.0.attention.k_lin.weight [768, 768]",
                "distilbert.transformer.layer.0.attention.k_lin.bias [768]",
                "distilbert.transformer.layer.0.attention.v_lin.weight [768, 768]",
                "distilbert.transformer.layer.0.attention.v_lin.bias [768]",
                "distilbert.transformer.layer.0.attention.out_lin.weight [768, 768]",
                "distilbert.transformer.layer.0.attention.out_lin.bias [768]",
                "distilbert.transformer.layer.0.sa_layer_norm.weight [768]",
                "distilbert.transformer.layer.0.sa_layer_norm.bias [768]",
                "distilbert.transformer.layer.0.ffn.lin1.weight [3072, 768]",
                "distilbert.transformer.layer.0.ffn.lin1.bias [3072]",
                "distilbert.transformer.layer.0.ffn.lin2.weight [768, 3072]",
                "distilbert.transformer.layer.0.ffn.lin2.bias [768]",
                "distilbert.transformer.layer.0.output_layer_norm.weight [768]",
                "distilbert.transformer.layer.0.output_layer_norm.bias [768]",
                "pre_classifier.weight [768, 768]",
                "pre_classifier.bias [768]",
                "classifier.weight [3, 768]",
                "classifier.bias [3]"), names);
    }

    @Test
    void headsAndPrefixes() {
        DistilBertConfig c = DistilBertConfig.builder().nLayers(1).numLabels(5).build();
        assertEquals("embeddings.word_embeddings.weight", DistilBertParameters.layout(c, Head.BASE).get(0).name());
        List<ParameterSpec> mlm = DistilBertParameters.layout(c, Head.MASKED_LM);
        assertEquals(List.of("vocab_transform.weight [768, 768]", "vocab_transform.bias [768]", "vocab_layer_norm.weight [768]",
                        "vocab_layer_norm.bias [768]",
                        "vocab_projector.weight [30522, 768] (tied to distilbert.embeddings.word_embeddings.weight)",
                        "vocab_projector.bias [30522]"),
                mlm.subList(mlm.size() - 6, mlm.size()).stream().map(ParameterSpec::toString).toList());
        List<ParameterSpec> untied = DistilBertParameters.layout(c.toBuilder().tieWordEmbeddings(false).build(), Head.MASKED_LM);
        assertNull(untied.get(untied.size() - 2).tiedTo());
        assertEquals("classifier.weight [1, 768]", last(c, Head.MULTIPLE_CHOICE, 2));
        assertEquals("pre_classifier.weight [768, 768]", last(c, Head.MULTIPLE_CHOICE, 4));
        assertEquals("classifier.weight [5, 768]", last(c, Head.TOKEN_CLASSIFICATION, 2));
        assertEquals("qa_outputs.weight [2, 768]", last(c, Head.QUESTION_ANSWERING, 2));
        assertEquals("qa_outputs.bias [2]", last(c, Head.QUESTION_ANSWERING, 1));
    }

    private static String last(DistilBertConfig c, Head h, int fromEnd) {
        List<ParameterSpec> l = DistilBertParameters.layout(c, h);
        return l.get(l.size() - fromEnd).toString();
    }

    @Test
    void nameMapping() {
        assertEquals("distilbert.embeddings.LayerNorm.bias", DistilBertParameters.nameFor(Head.MASKED_LM, "embeddings.LayerNorm.bias"));
        assertEquals("embeddings.LayerNorm.bias", DistilBertParameters.nameFor(Head.BASE, "distilbert.embeddings.LayerNorm.bias"));
        assertEquals("classifier.weight", DistilBertParameters.nameFor(Head.BASE, "classifier.weight"));
        assertTrue(DistilBertParameters.isEncoderParameter("transformer.layer.0.ffn.lin1.bias"));
        assertFalse(DistilBertParameters.isEncoderParameter("vocab_transform.weight"));
        DistilBertConfig sin = DistilBertConfig.builder().sinusoidalPosEmbds(true).build();
        assertFalse(DistilBertParameters.isTrainable(sin, "distilbert.embeddings.position_embeddings.weight"));
        assertTrue(DistilBertParameters.isTrainable(DistilBertConfig.defaults(), "embeddings.position_embeddings.weight"));
        assertEquals(Head.MASKED_LM, Head.fromHfClass("DistilBertForMaskedLM").orElseThrow());
    }

    @Test
    void slabTable() {
        DistilBertConfig c = DistilBertConfig.builder().vocabSize(10).maxPositionEmbeddings(4).dim(4).nHeads(2).hiddenDim(6).nLayers(1).build();
        var t = DistilBertParameters.table(c, Head.MASKED_LM);
        assertEquals(0, t.offset("distilbert.embeddings.word_embeddings.weight"));
        assertEquals(40, t.offset("distilbert.embeddings.position_embeddings.weight"));
        assertEquals(t.offset("distilbert.embeddings.word_embeddings.weight"), t.offset("vocab_projector.weight"));
        assertEquals(total(t.specs()), t.numel());
        assertEquals(t.specs().size() - 1, t.owned().size());
        var aligned = DistilBertParameters.table(c, Head.MASKED_LM, 64);
        // every parameter outside a group, and every group, starts aligned; group members follow unpadded
        for (ParameterSpec s : aligned.owned()) {
            boolean inGroupAfterFirst = aligned.groups().stream().anyMatch(g -> g.members().indexOf(s) > 0);
            if (!inGroupAfterFirst) assertEquals(0, aligned.offset(s.name()) % 64, s.name());
        }
        // views never overlap
        long end = 0;
        for (ParameterSpec s : aligned.owned()) {
            assertTrue(aligned.offset(s.name()) >= end);
            end = aligned.offset(s.name()) + s.numel();
        }
        assertTrue(aligned.numel() >= end);
        assertArrayEquals(new long[] {10, 4}, t.spec("vocab_projector.weight").shape());
    }

    @Test
    void qkvGroupsAreOneTensorOverTheirMembers() {
        DistilBertConfig c = DistilBertConfig.builder().vocabSize(10).maxPositionEmbeddings(4).dim(4).nHeads(2).hiddenDim(6).nLayers(2).build();
        for (Head head : Head.values()) {
            String p = head == Head.BASE ? "" : DistilBertParameters.PREFIX;
            for (int align : new int[] {1, 64}) {
                var t = DistilBertParameters.table(c, head, align);
                assertEquals(2 * c.nLayers(), t.groups().size());
                for (int i = 0; i < c.nLayers(); i++) {
                    String l = p + "transformer.layer." + i + ".";
                    var w = t.group(l + DistilBertParameters.QKV_WEIGHT);
                    var b = t.group(l + DistilBertParameters.QKV_BIAS);
                    assertArrayEquals(new long[] {12, 4}, w.shape());
                    assertArrayEquals(new long[] {12}, b.shape());
                    assertEquals(48, w.numel());
                    assertEquals(0, t.groupOffset(w.name()) % align);
                    assertEquals(0, t.groupOffset(b.name()) % align);
                    long wo = t.offset(l + "attention.q_lin.weight"), bo = t.offset(l + "attention.q_lin.bias");
                    assertEquals(wo, t.groupOffset(w.name()));
                    assertEquals(bo, t.groupOffset(b.name()));
                    assertEquals(wo + 16, t.offset(l + "attention.k_lin.weight"));
                    assertEquals(wo + 32, t.offset(l + "attention.v_lin.weight"));
                    assertEquals(bo + 4, t.offset(l + "attention.k_lin.bias"));
                    assertEquals(bo + 8, t.offset(l + "attention.v_lin.bias"));
                    assertTrue(bo >= wo + 48, "the biases come after the weights");
                }
            }
            // unaligned, the grouping moves parameters but adds nothing: the slab holds exactly the parameters
            assertEquals(total(DistilBertParameters.layout(c, head)), DistilBertParameters.table(c, head).numel());
        }
        assertEquals("no parameter group 'transformer.layer.0.attention.q_lin.weight' in this layout",
                org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                        () -> DistilBertParameters.table(c, Head.BASE).group("transformer.layer.0.attention.q_lin.weight"))
                        .getMessage());
    }
}
