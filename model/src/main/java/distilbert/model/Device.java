package distilbert.model;

/** Where {@link DistilBert#load} runs the model. */
public enum Device {
    /** The plain-Java backend ({@link CpuOps}). */
    CPU,
    /** The CUDA backend; an error where it cannot run. */
    CUDA,
    /** CUDA where a usable GPU is present, else the CPU, saying so once on stderr. */
    AUTO
}
