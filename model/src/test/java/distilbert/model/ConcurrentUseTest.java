package distilbert.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Activation;
import distilbert.weights.Head;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One loaded model shared by many threads, as a server shares it: every thread's results equal the
 * single-threaded ones bit for bit (the CPU backend keeps no per-call state between forwards).
 */
class ConcurrentUseTest {

    @TempDir
    Path dir;

    @Test
    void threadsSharingOneModelGetTheSingleThreadedResults() throws Exception {
        Tokenizer tokenizer = TinyTokenizer.create(dir);
        List<String> texts = new ArrayList<>(TextClassificationTest.TEXTS);
        for (int i = 0; i < 20; i++) {
            texts.add(String.join(" ", TinyTokenizer.WORDS.subList(i, i + 3 + i % 17)));
        }
        try (DistilBert db = TestModels.model(TestModels.config(Activation.GELU, false, 3), Head.SEQUENCE_CLASSIFICATION, 51)) {
            TextClassification classifier = new TextClassification(db, tokenizer).withBatchTokens(40);
            List<TextClassification.Result> alone = classifier.classify(texts);
            ExecutorService pool = Executors.newFixedThreadPool(6);
            try {
                List<Future<List<TextClassification.Result>>> runs = new ArrayList<>();
                for (int t = 0; t < 24; t++) {
                    runs.add(pool.submit(() -> classifier.classify(texts)));
                }
                for (Future<List<TextClassification.Result>> run : runs) {
                    assertEquals(alone, run.get(), "a thread's results");
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void embeddingsFromManyThreads() throws IOException, Exception {
        Tokenizer tokenizer = TinyTokenizer.create(dir);
        List<String> texts = TextClassificationTest.TEXTS;
        try (DistilBert db = TestModels.model(TestModels.config(Activation.GELU_NEW, true, 2), Head.BASE, 52)) {
            SentenceEmbeddings st = new SentenceEmbeddings(db, tokenizer).withNormalize(true);
            List<float[]> alone = st.embed(texts);
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<List<float[]>>> runs = new ArrayList<>();
                for (int t = 0; t < 12; t++) {
                    runs.add(pool.submit(() -> st.embed(texts)));
                }
                for (Future<List<float[]>> run : runs) {
                    List<float[]> got = run.get();
                    for (int i = 0; i < texts.size(); i++) {
                        assertEquals(java.util.Arrays.toString(alone.get(i)), java.util.Arrays.toString(got.get(i)), "text " + i);
                    }
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
