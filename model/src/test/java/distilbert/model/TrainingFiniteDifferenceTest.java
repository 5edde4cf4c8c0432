package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.weights.Activation;
import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The backward pass against finite differences, where the HF golden files cannot reach: training
 * mode (dropout in every site, each head's own), padded batches under {@link MaskedPositions#SKIP},
 * rows whose keys are all masked, a fractional head mask. With the dropout stream fixed, the loss
 * is a deterministic function of the parameters, so the directional derivative along a random unit
 * direction v, {@code (L(θ + εv) − L(θ − εv)) / 2ε}, must equal {@code ∇L·v} from backward.
 *
 * <p>Bound: |fd − ∇L·v| ≤ 1e-4·‖∇L‖ (with ε = 1e-2, ‖v‖ = 1). The central difference's truncation
 * error is ε²/6 times the third derivative along v, and float32 evaluation of the loss adds
 * ~1e-7·|L|/ε; the worst observed over these cases (and the 12 combinations of padding mode, head
 * mask and dropout of the encoder) is 7e-6·‖∇L‖. Since v is dense, a wrong gradient in one
 * parameter tensor shifts ∇L·v by its share of the gradient: giving the padding row of the word
 * embeddings its mathematical gradient instead of torch's zero (the one exclusion below) is off by
 * 4e-3 to 1.6e-2 of it, 40 times the bound or more.
 */
class TrainingFiniteDifferenceTest {

    private static final float EPS = 1e-2f;
    private static final double BOUND = 1e-4;

    private static DistilBertConfig config(int numLabels) {
        return DistilBertConfig.builder().vocabSize(40).maxPositionEmbeddings(16).nLayers(2).nHeads(4).dim(16)
                .hiddenDim(24).activation(Activation.GELU).dropout(0.2).attentionDropout(0.3).seqClassifDropout(0.25)
                .qaDropout(0.15).numLabels(numLabels).build();
    }

    /** Rows of different lengths, right-padded; row 2 is one token. */
    private static final int[][] IDS = {{2, 7, 9, 11, 5, 3}, {2, 13, 17, 3, 0, 0}, {2, 0, 0, 0, 0, 0}};
    private static final int[][] MASK = {{1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0}, {1, 0, 0, 0, 0, 0}};

    /**
     * Compares backward's gradient with the central difference of {@code loss} along a random unit
     * direction. {@code loss} runs a head's backward into the slab it is given and returns the loss.
     */
    private static void check(String what, DistilBert db, Function<ParameterSlab, Float> loss) {
        Ops ops = db.ops();
        ParameterSlab params = db.architecture().parameters();
        ParameterSlab grads = ParameterSlab.allocate(ops, params.table());
        loss.apply(grads);
        float[] g = ops.download(grads.slab()), theta = ops.download(params.slab());
        Random rnd = new Random(what.hashCode());
        double[] v = new double[theta.length];
        // the padding row of the word embeddings stays put: torch's padding_idx gives it no gradient by
        // definition, although the forward reads it where padded positions are computed
        int C = db.config().dim();
        long padRow = params.table().offset("distilbert.embeddings.word_embeddings.weight".substring(
                db.head() == Head.BASE ? "distilbert.".length() : 0)) + (long) db.config().padTokenId() * C;
        double norm = 0;
        for (int i = 0; i < v.length; i++) {
            v[i] = i >= padRow && i < padRow + C ? 0 : rnd.nextGaussian();
            norm += v[i] * v[i];
        }
        double dot = 0, gNorm = 0;
        for (int i = 0; i < v.length; i++) {
            v[i] /= Math.sqrt(norm);
            dot += g[i] * v[i];
            gNorm += (double) g[i] * g[i];
        }
        gNorm = Math.sqrt(gNorm);
        double plus = lossAt(ops, params, theta, v, EPS, loss), minus = lossAt(ops, params, theta, v, -EPS, loss);
        ops.upload(params.slab(), theta);
        double fd = (plus - minus) / (2 * EPS);
        assertTrue(gNorm > 1e-3, what + ": gradient norm " + gNorm);
        assertTrue(Math.abs(fd - dot) <= BOUND * gNorm, what + ": finite difference " + fd + " vs backward " + dot
                + " (|g| = " + gNorm + ", off by " + Math.abs(fd - dot) / gNorm + " of it)");
    }

    private static double lossAt(Ops ops, ParameterSlab params, float[] theta, double[] v, float eps,
                                 Function<ParameterSlab, Float> loss) {
        float[] moved = new float[theta.length];
        for (int i = 0; i < theta.length; i++) {
            moved[i] = (float) (theta[i] + eps * v[i]);
        }
        ops.upload(params.slab(), moved);
        return loss.apply(ParameterSlab.allocate(ops, params.table()));
    }

    private static DistilBert model(Head head, int numLabels) {
        return DistilBert.of(Checkpoint.initialized(config(numLabels), head, 11), new CpuOps(2, MatmulKernel.best()));
    }

    private static ModelInput input(DropoutRng rng) {
        return ModelInput.ofIds(IDS, MASK).withDropout(rng);
    }

    @Test
    void sequenceClassificationWithDropout() {
        try (DistilBert db = model(Head.SEQUENCE_CLASSIFICATION, 3)) {
            var head = db.as(DistilBertForSequenceClassification.class);
            check("seq", db, g -> head.backward(input(new DropoutRng(5, 0)), new SequenceLabels.Classes(new int[] {2, 0, 1}),
                    g).loss());
        }
    }

    @Test
    void regressionAndMultiLabelWithDropout() {
        try (DistilBert db = model(Head.SEQUENCE_CLASSIFICATION, 1)) {
            var head = db.as(DistilBertForSequenceClassification.class);
            check("regression", db, g -> head.backward(input(new DropoutRng(6, 0)),
                    new SequenceLabels.Values(Tensor.of(new float[] {0.5f, -1f, 2f}, 3)), g).loss());
        }
        try (DistilBert db = model(Head.SEQUENCE_CLASSIFICATION, 2)) {
            var head = db.as(DistilBertForSequenceClassification.class);
            check("multi-label", db, g -> head.backward(input(new DropoutRng(7, 0)),
                    new SequenceLabels.Values(Tensor.of(new float[] {1, 0, 1, 1, 0, 0}, 3, 2)), g).loss());
        }
    }

    @Test
    void tokenClassificationWithDropoutAndPaddingLabels() {
        try (DistilBert db = model(Head.TOKEN_CLASSIFICATION, 4)) {
            var head = db.as(DistilBertForTokenClassification.class);
            int[][] labels = {{-100, 1, 3, 0, 2, -100}, {-100, 2, 1, -100, -100, -100}, {-100, -100, -100, -100, -100, -100}};
            check("token", db, g -> head.backward(input(new DropoutRng(8, 3)), labels, g, 1f).loss());
        }
    }

    @Test
    void questionAnsweringWithDropoutAndComputedPadding() {
        try (DistilBert db = model(Head.QUESTION_ANSWERING, 2)) {
            var head = db.as(DistilBertForQuestionAnswering.class);
            check("qa", db, g -> head.backward(input(new DropoutRng(9, 0)).withMaskedPositions(MaskedPositions.COMPUTE),
                    new int[] {1, 2, 9}, new int[] {4, 3, -1}, g, 1f).loss());
        }
    }

    @Test
    void maskedLmWithTiedProjectorAndDropout() {
        try (DistilBert db = model(Head.MASKED_LM, 2)) {
            var head = db.as(DistilBertForMaskedLM.class);
            int[][] labels = {{-100, 7, -100, 30, -100, -100}, {-100, -100, 4, -100, -100, -100}, {-100, -100, -100, -100, -100, -100}};
            check("mlm", db, g -> head.backward(input(new DropoutRng(10, 0)), labels, g, 1f).loss());
        }
    }

    /** The training loop's call, without the [P, V] logits brought back: the same loss and gradients. */
    @Test
    void maskedLmWithoutLogitsTakesTheSameStep() {
        try (DistilBert db = model(Head.MASKED_LM, 2)) {
            var head = db.as(DistilBertForMaskedLM.class);
            int[][] labels = {{-100, 7, -100, 30, -100, -100}, {-100, -100, 4, -100, -100, -100}, {-100, -100, -100, -100, -100, -100}};
            ParameterSlab a = ParameterSlab.allocate(db.ops(), db.architecture().parameters().table());
            ParameterSlab b = ParameterSlab.allocate(db.ops(), db.architecture().parameters().table());
            MaskedLMOutput with = head.backward(input(new DropoutRng(10, 0)), labels, a, 1f);
            MaskedLMOutput without = head.backward(input(new DropoutRng(10, 0)), labels, b, 1f, false);
            assertEquals(with.loss(), without.loss());
            assertEquals(3 * 40, with.logits().data().length, "3 labelled positions × V");
            assertEquals(null, without.logits());
            org.junit.jupiter.api.Assertions.assertArrayEquals(db.ops().download(a.slab()), db.ops().download(b.slab()));
        }
    }

    @Test
    void multipleChoiceWithDropout() {
        try (DistilBert db = model(Head.MULTIPLE_CHOICE, 2)) {
            var head = db.as(DistilBertForMultipleChoice.class);
            int[][][] ids = {{{2, 7, 9, 3}, {2, 8, 3, 0}}, {{2, 5, 3, 0}, {2, 6, 6, 3}}};
            int[][][] mask = {{{1, 1, 1, 1}, {1, 1, 1, 0}}, {{1, 1, 1, 0}, {1, 1, 1, 1}}};
            check("multiple choice", db, g -> head.backward(ModelInput.ofChoices(ids, mask).withDropout(new DropoutRng(11, 0)),
                    2, new int[] {1, 0}, g, 1f).loss());
        }
    }

    /** The bare encoder, with a fully masked row (uniform attention) under COMPUTE and a fractional head mask. */
    @Test
    void encoderWithAllMaskedRowAndHeadMask() {
        try (DistilBert db = model(Head.BASE, 2)) {
            var model = db.as(DistilBertModel.class);
            int[][] mask = {{1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0}, {0, 0, 0, 0, 0, 0}};
            float[] probe = new float[3 * 6 * 16];
            Random r = new Random(3);
            for (int i = 0; i < probe.length; i++) {
                probe[i] = (float) r.nextGaussian();
            }
            Tensor p = Tensor.of(probe, 3, 6, 16);
            ModelInput in = ModelInput.ofIds(IDS, mask).withMaskedPositions(MaskedPositions.COMPUTE)
                    .withHeadMask(Tensor.of(new float[] {1f, 0.5f, 0f, 1f, 1f, 1f, 0.25f, 1f}, 2, 4))
                    .withDropout(new DropoutRng(12, 0));
            check("encoder", db, g -> {
                Tensor last = model.backward(in, p, g);
                double s = 0;
                for (int i = 0; i < probe.length; i++) {
                    s += (double) last.data()[i] * probe[i];
                }
                return (float) s;
            });
        }
    }

    /** Training mode draws masks: another stream gives another loss; no dropout rng gives the eval forward's loss. */
    @Test
    void dropoutChangesTheLossAndEvalModeMatchesTheForward() {
        try (DistilBert db = model(Head.SEQUENCE_CLASSIFICATION, 3)) {
            var head = db.as(DistilBertForSequenceClassification.class);
            var labels = new SequenceLabels.Classes(new int[] {2, 0, 1});
            ParameterSlab g = ParameterSlab.allocate(db.ops(), db.architecture().parameters().table());
            float a = head.backward(input(new DropoutRng(5, 0)), labels, g).loss();
            float again = head.backward(input(new DropoutRng(5, 0)), labels, g).loss();
            float other = head.backward(input(new DropoutRng(6, 0)), labels, g).loss();
            float eval = head.backward(input(null), labels, g).loss();
            float forward = head.forward(ModelInput.ofIds(IDS, MASK), labels).loss();
            assertEquals(a, again, "the same stream replays the same masks");
            assertTrue(Math.abs(a - other) > 1e-4, a + " vs " + other);
            assertEquals(forward, eval, 1e-6f, "eval-mode training step vs inference forward");
        }
    }

    @Test
    void gradientsAccumulateAndScale() {
        try (DistilBert db = model(Head.SEQUENCE_CLASSIFICATION, 3)) {
            var head = db.as(DistilBertForSequenceClassification.class);
            var labels = new SequenceLabels.Classes(new int[] {2, 0, 1});
            ParameterSlab once = ParameterSlab.allocate(db.ops(), db.architecture().parameters().table());
            ParameterSlab twice = ParameterSlab.allocate(db.ops(), db.architecture().parameters().table());
            head.backward(input(null), labels, once, 1f);
            head.backward(input(null), labels, twice, 0.5f);
            head.backward(input(null), labels, twice, 0.5f);
            float[] a = db.ops().download(once.slab()), b = db.ops().download(twice.slab());
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i], 1e-6f * (1 + Math.abs(a[i])), "element " + i);
            }
        }
    }

    @Test
    void aGradientSlabOfAnotherLayoutIsRefused() {
        try (DistilBert db = model(Head.SEQUENCE_CLASSIFICATION, 3);
             DistilBert other = model(Head.TOKEN_CLASSIFICATION, 3)) {
            var head = db.as(DistilBertForSequenceClassification.class);
            ParameterSlab wrong = ParameterSlab.allocate(other.ops(), other.architecture().parameters().table());
            var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> head.backward(input(null), new SequenceLabels.Classes(new int[] {0, 1, 2}), wrong));
            assertTrue(e.getMessage().contains("ParameterSlab.allocate"), e.getMessage());
        }
    }

    /** The attention backward reading the forward's dropped probabilities gives the bits of the one that draws the mask again. */
    @Test
    void theKeptDropoutMaskGivesTheRedrawnMasksGradient() {
        try (CpuOps ops = new CpuOps(2, MatmulKernel.best())) {
            int NH = 2, HS = 8, C = NH * HS;
            int[] cu = {0, 5, 12, 12, 15};
            int[] keys = {5, 4, 0, 3};                                  // partial keys, an empty row, an all-masked row
            int B = 4, T = 15;
            Random r = new Random(21);
            float[] qkv = new float[T * 3 * C], dOut = new float[T * C];
            for (int i = 0; i < qkv.length; i++) qkv[i] = (float) r.nextGaussian();
            for (int i = 0; i < dOut.length; i++) dOut[i] = (float) r.nextGaussian();
            long total = PackedBatch.probsOffsets(cu, keys, NH)[B];
            IndexBuffer cuB = ops.indicesOf(cu), keysB = ops.indicesOf(keys);
            Buffer probs = ops.allocate(total), dropped = ops.allocate(total), out = ops.allocate((long) T * C);
            Buffer hm = ops.bufferOf(new float[] {1f, 0.5f});
            DropoutRng rng = new DropoutRng(3, 7);
            ops.attentionTrainingForward(out, probs, dropped, ops.bufferOf(qkv), hm, rng, 0.3f, cuB, keysB, B, T, NH, HS);
            Buffer kept = ops.allocate((long) T * 3 * C), redrawn = ops.allocate((long) T * 3 * C);
            ops.attentionBackward(kept, ops.bufferOf(dOut), ops.bufferOf(qkv), probs, dropped, hm, rng, 0.3f, cuB, keysB, B, T, NH, HS);
            ops.attentionBackward(redrawn, ops.bufferOf(dOut), ops.bufferOf(qkv), probs, null, hm, rng, 0.3f, cuB, keysB, B, T, NH, HS);
            org.junit.jupiter.api.Assertions.assertArrayEquals(ops.download(redrawn), ops.download(kept));
            float[] d = ops.download(dropped);
            long zeros = 0;
            for (float v : d) if (v == 0f) zeros++;
            assertTrue(zeros > total / 10 && zeros < total / 2, zeros + " of " + total + " dropped at p = 0.3");
        }
    }
}
