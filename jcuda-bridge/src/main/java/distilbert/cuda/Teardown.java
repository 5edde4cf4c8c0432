package distilbert.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * Releasing several native resources where one failure must not leak the others: every step is
 * attempted, and {@link #rethrow} throws the first failure with the later ones suppressed.
 */
final class Teardown {

    private final List<RuntimeException> failures = new ArrayList<>();

    /** Runs {@code step}, keeping its failure for {@link #rethrow}. */
    void attempt(Runnable step) {
        try {
            step.run();
        } catch (RuntimeException e) {
            failures.add(e);
        }
    }

    /** Throws the first failure, the others suppressed in it; nothing when every step succeeded. */
    void rethrow() {
        if (!failures.isEmpty()) {
            RuntimeException first = failures.getFirst();
            failures.subList(1, failures.size()).forEach(first::addSuppressed);
            throw first;
        }
    }
}
