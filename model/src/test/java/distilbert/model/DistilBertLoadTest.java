package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import distilbert.weights.Checkpoint;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import java.io.IOException;
import java.nio.file.Path;
import distilbert.cuda.GpuProbe;
import distilbert.cuda.GpuStatus;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** {@link DistilBert#load}: a HuggingFace directory in, the model class its config names out. */
class DistilBertLoadTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Head.class)
    void loadsTheArchitectureNamedByTheConfig(Head head) throws IOException {
        DistilBertConfig config = TestModels.config(distilbert.weights.Activation.GELU, false,
                head == Head.QUESTION_ANSWERING ? 2 : 3);
        Checkpoint ckpt = TestModels.checkpoint(config, head, 81);
        ModelDirectory.save(dir, ckpt);
        int[][] ids = TestModels.randomIds(2, 5, config.vocabSize(), 82);
        try (DistilBert saved = DistilBert.load(dir, Device.CPU);
             DistilBert direct = DistilBert.of(ckpt, new CpuOps(2, MatmulKernel.best()))) {
            assertEquals(head, saved.head());
            Architecture a = saved.architecture();
            Class<? extends Architecture> expected = switch (head) {
                case BASE -> DistilBertModel.class;
                case MASKED_LM -> DistilBertForMaskedLM.class;
                case SEQUENCE_CLASSIFICATION -> DistilBertForSequenceClassification.class;
                case MULTIPLE_CHOICE -> DistilBertForMultipleChoice.class;
                case TOKEN_CLASSIFICATION -> DistilBertForTokenClassification.class;
                case QUESTION_ANSWERING -> DistilBertForQuestionAnswering.class;
            };
            assertInstanceOf(expected, a);
            // the loaded weights are the saved ones: same encoder output
            ModelInput in = ModelInput.ofIds(ids);
            Check.close("encoder after save and load", direct.architecture().distilbert().forward(in).lastHiddenState(),
                    a.distilbert().forward(in).lastHiddenState(), 0, 0);
        }
    }

    @Test
    void asNamesBothClassesWhenTheModelIsAnother() throws IOException {
        ModelDirectory.save(dir, TestModels.checkpoint(TestModels.config(), Head.MASKED_LM, 83));
        try (DistilBert db = DistilBert.load(dir, Device.CPU)) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> db.as(DistilBertForSequenceClassification.class));
            assertTrue(e.getMessage().contains("DistilBertForMaskedLM"), e.getMessage());
            assertTrue(e.getMessage().contains("DistilBertForSequenceClassification"), e.getMessage());
        }
    }

    @Test
    void withoutAGpuCudaIsRefusedSayingWhyAndAutoFallsBackToTheCpu() throws IOException {
        GpuStatus status = GpuProbe.status();
        Assumptions.assumeFalse(status.usable(), "this machine has a usable GPU: " + status.describe());
        ModelDirectory.save(dir, TestModels.checkpoint(TestModels.config(), Head.BASE, 84));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> DistilBert.load(dir, Device.CUDA));
        assertTrue(e.getMessage().startsWith("no usable GPU"), e.getMessage());
        try (DistilBert db = DistilBert.load(dir, Device.AUTO)) {
            assertInstanceOf(CpuOps.class, db.ops());
        }
    }

    @Test
    void aDirectoryWithoutAModelIsAnErrorNamingIt() {
        Exception e = assertThrows(RuntimeException.class, () -> DistilBert.load(dir, Device.CPU));
        assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
    }
}
