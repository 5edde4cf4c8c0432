package distilbert.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.cli.TrainingData.Example;
import distilbert.cli.TrainingData.Masking;
import distilbert.cli.TrainingData.QaRow;
import distilbert.model.DistilBert;
import distilbert.model.DistilBertForMaskedLM;
import distilbert.model.DistilBertForMultipleChoice;
import distilbert.model.DistilBertForSequenceClassification;
import distilbert.model.DistilBertForTokenClassification;
import distilbert.model.ModelInput;
import distilbert.model.QuestionAnswering;
import distilbert.model.SequenceClassifierOutput;
import distilbert.model.TokenPositions;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.ProblemType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import java.util.regex.Pattern;

/**
 * {@code distilbert train}'s evaluations, one per task, in eval mode over the eval set in batches of
 * --batch-size: each returns its metrics as HF's Trainer names them (eval_loss, eval_accuracy, ...),
 * rounded to six significant digits, for the log entry. Beside them the metrics' own rules:
 * seqeval's entity chunks ({@link Entities}) and the SQuAD script's answer scores ({@link Squad}).
 */
final class TrainingEval {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TrainingEval() {
    }

    /** Eval mode over the set in batches: the mean loss (weighted by batch size) and, for single-label, the accuracy. */
    static ObjectNode evaluate(DistilBertForSequenceClassification head, List<Example> set, DistilBertConfig config,
                               int batchSize) {
        double loss = 0;
        long correct = 0;
        for (int from = 0; from < set.size(); from += batchSize) {
            List<Example> batch = set.subList(from, Math.min(set.size(), from + batchSize));
            SequenceClassifierOutput out = head.forward(TrainingData.input(batch), TrainingData.labelsOf(batch, config));
            loss += (double) out.loss() * batch.size();
            if (config.problemType() == ProblemType.SINGLE_LABEL_CLASSIFICATION) {
                int NL = config.numLabels();
                float[] logits = out.logits().data();
                for (int i = 0; i < batch.size(); i++) {
                    int best = 0;
                    for (int j = 1; j < NL; j++) if (logits[i * NL + j] > logits[i * NL + best]) best = j;
                    if (best == batch.get(i).classId()) correct++;
                }
            }
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("eval_loss", round(loss / set.size()));
        if (config.problemType() == ProblemType.SINGLE_LABEL_CLASSIFICATION) {
            o.put("eval_accuracy", round((double) correct / set.size()));
        }
        o.put("eval_examples", set.size());
        return o;
    }

    /** Eval mode: the mean loss over labeled tokens (weighted by their count per batch) and the token accuracy. */
    static ObjectNode evaluateTokens(DistilBertForTokenClassification head, List<Example> set, Map<Integer, String> id2label,
                                     int batchSize) {
        double loss = 0;
        long labeled = 0, correct = 0;
        Entities.Counts entities = new Entities.Counts();
        for (int from = 0; from < set.size(); from += batchSize) {
            List<Example> batch = set.subList(from, Math.min(set.size(), from + batchSize));
            ModelInput in = TrainingData.input(batch);
            int[][] labels = TrainingData.tokenLabelsOf(batch, in.length());
            var out = head.forward(in, labels);
            int NL = out.logits().dim(2), L = in.length();
            float[] logits = out.logits().data();
            long n = 0;
            for (int b = 0; b < batch.size(); b++) {
                List<String> gold = new ArrayList<>(), predicted = new ArrayList<>(); // per word, in order
                for (int l = 0; l < L; l++) {
                    if (labels[b][l] == -100) continue;
                    n++;
                    int base = (b * L + l) * NL, best = 0;
                    for (int j = 1; j < NL; j++) if (logits[base + j] > logits[base + best]) best = j;
                    if (best == labels[b][l]) correct++;
                    gold.add(id2label.get(labels[b][l]));
                    predicted.add(id2label.get(best));
                }
                entities.add(Entities.of(gold), Entities.of(predicted));
            }
            if (n > 0) loss += (double) out.loss() * n;
            labeled += n;
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("eval_loss", round(loss / Math.max(1, labeled)));
        o.put("eval_precision", round(entities.precision()));
        o.put("eval_recall", round(entities.recall()));
        o.put("eval_f1", round(entities.f1()));
        o.put("eval_accuracy", round((double) correct / Math.max(1, labeled)));
        o.put("eval_tokens", labeled);
        return o;
    }

    /**
     * Entity-level scores as seqeval computes them for run_ner.py (its default, non-strict IOB2
     * mode): a chunk starts at B-X, at I-X after O or after another type, and ends at O, at B-, or at
     * another type; a tag without a B-/I- prefix is a type of its own, continued by the same tag.
     * Precision, recall and F1 are micro-averaged over all types; a chunk counts when its type, start
     * and end all match.
     */
    static final class Entities {
        private Entities() {
        }

        /** The chunks of one sequence of tags, as "type start end". */
        static Set<String> of(List<String> tags) {
            Set<String> out = new HashSet<>();
            String type = null;
            int start = -1;
            for (int i = 0; i <= tags.size(); i++) {
                String tag = i < tags.size() ? tags.get(i) : "O";
                String prefix = tag.startsWith("B-") || tag.startsWith("I-") ? tag.substring(0, 1) : tag.equals("O") ? "O" : "I";
                String t = tag.startsWith("B-") || tag.startsWith("I-") ? tag.substring(2) : tag;
                boolean ends = type != null && (prefix.equals("O") || prefix.equals("B") || !t.equals(type));
                if (ends) {
                    out.add(type + " " + start + " " + (i - 1));
                    type = null;
                }
                if (!prefix.equals("O") && type == null) {
                    type = t;
                    start = i;
                }
            }
            return out;
        }

        /** Running true positives and the numbers of predicted and gold chunks. */
        static final class Counts {
            long truePositives, predicted, gold;

            void add(Set<String> goldChunks, Set<String> predictedChunks) {
                gold += goldChunks.size();
                predicted += predictedChunks.size();
                for (String c : predictedChunks) {
                    if (goldChunks.contains(c)) truePositives++;
                }
            }

            double precision() {
                return predicted == 0 ? 0 : (double) truePositives / predicted;
            }

            double recall() {
                return gold == 0 ? 0 : (double) truePositives / gold;
            }

            double f1() {
                double p = precision(), r = recall();
                return p + r == 0 ? 0 : 2 * p * r / (p + r);
            }
        }
    }

    /** Eval mode: the masked-LM loss over the eval set with masks drawn once from --seed, and its perplexity. */
    static ObjectNode evaluateMaskedLm(DistilBertForMaskedLM head, Masking masking, List<Example> set, int batchSize,
                                       long seed) {
        RandomGenerator rnd = new SplittableRandom(seed);
        double loss = 0;
        long predicted = 0;
        for (int from = 0; from < set.size(); from += batchSize) {
            Masking.Masked mb = masking.mask(TrainingData.padded(set.subList(from, Math.min(set.size(), from + batchSize))), rnd);
            TokenPositions at = TokenPositions.labeled(mb.labels());
            if (at.size() == 0) continue;
            loss += (double) head.forwardAt(mb.input(), at, mb.labels()).loss() * at.size();
            predicted += at.size();
        }
        ObjectNode o = JSON.createObjectNode();
        double mean = loss / Math.max(1, predicted);
        o.put("eval_loss", round(mean));
        o.put("perplexity", round(Math.exp(mean)));
        o.put("eval_tokens", predicted);
        return o;
    }

    /**
     * SQuAD's scores of the pipeline's best answers to the eval questions (HF's question-answering
     * pipeline, top 1): exact_match and f1 in percent, each the maximum over a question's gold
     * answers, on answers normalised as the SQuAD script does (lower case, no punctuation, no
     * articles, single spaces).
     */
    static ObjectNode evaluateQa(DistilBert db, Tokenizer tokenizer, List<QaRow> rows, int maxLength) {
        int maxSeqLen = Math.min(maxLength, QuestionAnswering.DEFAULT_MAX_SEQ_LEN);
        var pipeline = new QuestionAnswering(db, tokenizer).withMaxSeqLen(maxSeqLen);
        var answers = pipeline.answer(rows.stream().map(QaRow::question).toList(), rows.stream().map(QaRow::context).toList());
        double em = 0, f1 = 0;
        for (int i = 0; i < rows.size(); i++) {
            String predicted = answers.get(i).isEmpty() ? "" : answers.get(i).getFirst().answer();
            List<String> gold = rows.get(i).answers().isEmpty() ? List.of("") : rows.get(i).answers();
            double bestEm = 0, bestF1 = 0;
            for (String g : gold) {
                bestEm = Math.max(bestEm, Squad.normalize(g).equals(Squad.normalize(predicted)) ? 1 : 0);
                bestF1 = Math.max(bestF1, Squad.f1(predicted, g));
            }
            em += bestEm;
            f1 += bestF1;
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("exact_match", round(100 * em / rows.size()));
        o.put("f1", round(100 * f1 / rows.size()));
        o.put("eval_examples", rows.size());
        return o;
    }

    /** The SQuAD v1.1 evaluation script's answer normalisation and token F1. */
    static final class Squad {
        private Squad() {
        }

        private static final Pattern ARTICLES = Pattern.compile("\\b(a|an|the)\\b");

        /** Lower case, punctuation removed (string.punctuation), articles removed, whitespace collapsed. */
        static String normalize(String s) {
            String lower = s.toLowerCase(Locale.ROOT);
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < lower.length(); i++) {
                char c = lower.charAt(i);
                if ("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".indexOf(c) < 0) b.append(c);
            }
            String noArticles = ARTICLES.matcher(b).replaceAll(" ");
            return String.join(" ", noArticles.trim().split("\\s+")).trim();
        }

        static double f1(String predicted, String gold) {
            List<String> p = tokens(predicted), g = tokens(gold);
            if (p.isEmpty() || g.isEmpty()) {
                return p.equals(g) ? 1 : 0;
            }
            Map<String, Integer> counts = new HashMap<>();
            for (String t : g) counts.merge(t, 1, Integer::sum);
            int common = 0;
            for (String t : p) {
                Integer n = counts.get(t);
                if (n != null && n > 0) {
                    common++;
                    counts.put(t, n - 1);
                }
            }
            if (common == 0) return 0;
            double precision = (double) common / p.size(), recall = (double) common / g.size();
            return 2 * precision * recall / (precision + recall);
        }

        private static List<String> tokens(String s) {
            String n = normalize(s);
            return n.isEmpty() ? List.of() : List.of(n.split(" "));
        }
    }

    /** Eval mode: the mean loss over the questions and the share whose best-scored choice is the right one. */
    static ObjectNode evaluateChoices(DistilBertForMultipleChoice head, List<Example> set, int batchSize) {
        double loss = 0;
        long correct = 0;
        for (int from = 0; from < set.size(); from += batchSize) {
            List<Example> batch = set.subList(from, Math.min(set.size(), from + batchSize));
            int nc = batch.getFirst().choices().length;
            int[] labels = batch.stream().mapToInt(Example::classId).toArray();
            var out = head.forward(TrainingData.choiceInput(batch), nc, labels);
            loss += (double) out.loss() * batch.size();
            float[] logits = out.logits().data();
            for (int b = 0; b < batch.size(); b++) {
                int best = 0;
                for (int c = 1; c < nc; c++) if (logits[b * nc + c] > logits[b * nc + best]) best = c;
                if (best == labels[b]) correct++;
            }
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("eval_loss", round(loss / set.size()));
        o.put("eval_accuracy", round((double) correct / set.size()));
        o.put("eval_examples", set.size());
        return o;
    }

    /** Six significant digits, as the log and the run's summary show metrics. */
    static double round(double v) {
        return Double.parseDouble(String.format(Locale.ROOT, "%.6g", v));
    }
}
