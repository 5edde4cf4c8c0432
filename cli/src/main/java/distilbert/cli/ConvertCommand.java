package distilbert.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import distilbert.tokenizer.Tokenizer;
import distilbert.weights.Activation;
import distilbert.weights.DistilBertConfig;
import distilbert.weights.Head;
import distilbert.weights.ModelDirectory;
import distilbert.weights.onnx.BertOnnxConverter;
import distilbert.weights.onnx.OnnxFormatException;
import distilbert.weights.onnx.OnnxModel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code distilbert convert --from onnx}: a BERT encoder exported to ONNX becomes a HuggingFace
 * DistilBERT model directory (config.json, model.safetensors, tokenizer.json, vocab.txt,
 * tokenizer_config.json) that computes the same last_hidden_state with token_type_ids = 0.
 */
@Command(name = "convert", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, sortOptions = false,
        description = {"Convert a BERT encoder exported to ONNX (e.g. all-MiniLM-L6-v2) into a HuggingFace DistilBERT model directory.",
                "With token_type_ids = 0, BERT computes what DistilBERT computes once token_type_embeddings[0] is folded into the "
                        + "position embeddings and the pooler is dropped."})
final class ConvertCommand implements Callable<Integer>, Main.Verbose {
    enum Format { onnx }

    @Option(names = "--from", required = true, paramLabel = "FORMAT", description = "Source format. Supported: ${COMPLETION-CANDIDATES}.")
    Format from;

    @Option(names = "--input", required = true, paramLabel = "MODEL.onnx", description = "The ONNX model (a PyTorch export of HF's BertModel).")
    Path input;

    @Option(names = "--tokenizer", required = true, paramLabel = "PATH",
            description = "The model's tokenizer: tokenizer.json, vocab.txt or a directory holding one.")
    Path tokenizer;

    @Option(names = "--output", required = true, paramLabel = "DIR", description = "Model directory to write (created; must be empty unless --force).")
    Path output;

    @Option(names = "--force", description = "Write into a non-empty output directory, replacing the files this command writes.")
    boolean force;

    @Option(names = "--verbose", description = "Print the stack trace of an error.")
    boolean verbose;

    @ParentCommand
    private Main main;

    @Override
    public boolean verbose() {
        return verbose;
    }

    @Override
    public Integer call() throws IOException {
        if (Files.isDirectory(output) && !force) {
            try (var entries = Files.list(output)) {
                if (entries.findAny().isPresent()) throw new CliException(output + ": not empty (use --force to write into it)");
            }
        }
        Tokenizer tok = Tokenizer.fromPretrained(tokenizer);
        BertOnnxConverter.Result r;
        try {
            r = BertOnnxConverter.convert(OnnxModel.read(input));
        } catch (OnnxFormatException e) {
            throw new CliException(e.getMessage());
        }
        if (tok.vocabulary().size() != r.vocabSize()) {
            throw new CliException(tokenizer + ": the tokenizer has " + tok.vocabulary().size() + " tokens but " + input
                    + " has " + r.vocabSize() + " word embeddings");
        }
        DistilBertConfig config = DistilBertConfig.builder().vocabSize(r.vocabSize()).maxPositionEmbeddings(r.maxPositionEmbeddings())
                .nLayers(r.nLayers()).nHeads(r.nHeads()).dim(r.dim()).hiddenDim(r.hiddenDim()).activation(Activation.GELU)
                .sinusoidalPosEmbds(false).padTokenId(Math.max(0, tok.padTokenId())).architectures(List.of(Head.BASE.hfClass()))
                .build();
        Map<String, float[]> tensors = new LinkedHashMap<>();
        for (BertOnnxConverter.Parameter p : r.parameters()) tensors.put(p.name(), p.data());
        Files.createDirectories(output);
        ModelDirectory.save(output, config, Head.BASE, tensors, ModelDirectory.SaveOptions.defaults());
        writeTokenizerFiles(tok, r.maxPositionEmbeddings());
        main.io().err().println("distilbert convert: wrote " + output + " (" + r.nLayers() + " layers, dim " + r.dim() + ", "
                + r.nHeads() + " heads, FFN " + r.hiddenDim() + ", vocab " + r.vocabSize() + ")"
                + (r.ignored().isEmpty() ? "" : "; ignored initializers: " + String.join(", ", r.ignored())));
        return Main.OK;
    }

    /** tokenizer.json as given, vocab.txt in id order, tokenizer_config.json for the slow and fast loaders. */
    private void writeTokenizerFiles(Tokenizer tok, int maxPositions) throws IOException {
        Path source = Files.isDirectory(tokenizer) ? tokenizer.resolve("tokenizer.json") : tokenizer;
        if (source.getFileName().toString().endsWith(".json") && Files.isRegularFile(source)) {
            Files.copy(source, output.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        }
        StringBuilder vocab = new StringBuilder();
        for (int id = 0; id < tok.vocabulary().size(); id++) {
            String t = tok.vocabulary().token(id);
            if (t == null) throw new CliException(tokenizer + ": vocabulary id " + id + " is unused, so it cannot be written as vocab.txt");
            vocab.append(t).append('\n');
        }
        Files.writeString(output.resolve("vocab.txt"), vocab, StandardCharsets.UTF_8);
        var n = tok.normalizer();
        ObjectMapper json = new ObjectMapper();
        ObjectNode cfg = json.createObjectNode();
        cfg.put("tokenizer_class", "DistilBertTokenizer");
        cfg.put("do_lower_case", n == null || n.lowercase());
        if (n != null && n.stripAccents() != null) cfg.put("strip_accents", n.stripAccents());
        else cfg.putNull("strip_accents");
        cfg.put("tokenize_chinese_chars", n == null || n.handleChineseChars());
        cfg.put("model_max_length", maxPositions);
        var names = tok.specialTokens();
        cfg.put("unk_token", names.unk()).put("sep_token", names.sep()).put("pad_token", names.pad()).put("cls_token", names.cls())
                .put("mask_token", names.mask());
        cfg.put("clean_up_tokenization_spaces", true);
        json.writerWithDefaultPrettyPrinter().writeValue(output.resolve("tokenizer_config.json").toFile(), cfg);
    }
}
