package distilbert.model;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/** Messages printed to stderr at most once per process (fallbacks the user should know about). */
final class Notices {

    private static final Set<String> SHOWN = ConcurrentHashMap.newKeySet();

    private Notices() {
    }

    static void once(String key, String message) {
        if (SHOWN.add(key)) {
            System.err.println(message);
        }
    }
}
