package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Bad inputs are refused where they enter, with messages that say where and why (STYLE habit 12). */
class ValidationTest {

    private static DistilBert db;
    private static DistilBertModel model;
    private static final DistilBertConfig CONFIG = TestModels.config(); // V 100, P 64, 2 layers, 4 heads

    @BeforeAll
    static void setUp() {
        db = TestModels.model(CONFIG, Head.BASE, 71);
        model = db.as(DistilBertModel.class);
    }

    @AfterAll
    static void tearDown() {
        db.close();
    }

    private static void fails(Executable run, String... fragments) {
        Exception e = assertThrows(RuntimeException.class, run);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' lacks '" + f + "'");
        }
    }

    @Test
    void tokenIdsOutsideTheVocabularyNameRowPositionAndId() {
        fails(() -> model.forward(ModelInput.ofIds(new int[][] {{1, 2, 3}, {4, 100, 5}})), "input_ids[1][1] = 100",
                "[0, 100)");
        fails(() -> model.forward(ModelInput.ofIds(new int[][] {{-1}})), "input_ids[0][0] = -1");
    }

    @Test
    void sequencesLongerThanThePositionTableNameRowLengthAndLimit() {
        int[][] ids = new int[2][70];
        int[][] mask = new int[2][70];
        for (int l = 0; l < 70; l++) {
            mask[0][l] = l < 10 ? 1 : 0;
            mask[1][l] = 1;
        }
        fails(() -> model.forward(ModelInput.ofIds(ids, mask)), "row 1", "70 tokens", "max_position_embeddings = 64");
        for (int l = 0; l < 70; l++) {
            mask[1][l] = l < 64 ? 1 : 0;
        }
        fails(() -> model.forward(ModelInput.ofIds(ids, mask)), "padded length 70", "max_position_embeddings = 64");
    }

    @Test
    void shapeMismatchesBetweenIdsAndMask() {
        fails(() -> ModelInput.ofIds(new int[][] {{1, 2}, {3}}), "input_ids row 1 has 1 values");
        fails(() -> ModelInput.ofIds(new int[][] {{1, 2}}, new int[][] {{1, 1}, {1, 0}}), "attention_mask has 2 rows",
                "input_ids has 1");
        fails(() -> ModelInput.ofIds(new int[][] {{1, 2}}, new int[][] {{1}}), "attention_mask row 0 has 1 values");
        fails(() -> ModelInput.ofIds(2, 3, new int[6], new int[5]), "attention_mask has 5 values");
        fails(() -> model.forward(ModelInput.ofIds(new int[][] {{1, 2}}, new int[][] {{1, 2}})),
                "attention_mask[0][1] = 2");
        fails(() -> new ModelInput(1, 2, new int[2], new float[2 * 32], null, null, null, null, null, null), "not both");
        fails(() -> model.forward(ModelInput.ofEmbeds(Tensor.zeros(1, 2, 31), null)), "[B, L, C] = [1, 2, 32]");
    }

    @Test
    void headMaskMustBePerHeadOrPerLayerAndHead() {
        ModelInput in = ModelInput.ofIds(new int[][] {{1, 2, 3}});
        fails(() -> model.forward(in.withHeadMask(Tensor.zeros(3))), "head_mask must be [NH] = [4]",
                "[n_layers, NH] = [2, 4]", "got [3]");
        fails(() -> model.forward(in.withHeadMask(Tensor.zeros(3, 4))), "got [3, 4]");
        model.forward(in.withHeadMask(Tensor.zeros(4)));
        model.forward(in.withHeadMask(Tensor.zeros(2, 4)));
    }

    @Test
    void labelsAreCheckedAgainstTheirHead() {
        try (DistilBert mlm = TestModels.model(CONFIG, Head.MASKED_LM, 72);
             DistilBert tok = TestModels.model(CONFIG, Head.TOKEN_CLASSIFICATION, 73)) {
            ModelInput in = ModelInput.ofIds(new int[][] {{1, 2, 3}});
            fails(() -> mlm.as(DistilBertForMaskedLM.class).forward(in, new int[][] {{-100, 100, 5}}),
                    "labels[0][1] = 100");
            fails(() -> mlm.as(DistilBertForMaskedLM.class).forward(in, new int[][] {{1, 2}}), "labels row 0 has 2");
            fails(() -> tok.as(DistilBertForTokenClassification.class).forward(in, new int[][] {{0, 3, -100}}),
                    "labels[0][1] = 3");
            fails(() -> mlm.as(DistilBertForMaskedLM.class).forwardAt(in, new TokenPositions(new int[] {0},
                    new int[] {3}), null), "outside the batch [1, 3]");
        }
    }

    @Test
    void forwardRefusesTrainingMode() {
        fails(() -> model.forward(ModelInput.ofIds(new int[][] {{1}}).withDropout(new DropoutRng(1, 0))),
                "training mode");
    }
}
