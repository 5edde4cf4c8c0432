package distilbert.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ReadAheadTest {

    @Test
    void theNextItemIsMadeWhileTheCallerWorksOnThisOne() throws InterruptedException {
        AtomicInteger calls = new AtomicInteger();
        CountDownLatch secondStarted = new CountDownLatch(1);
        try (ReadAhead<Integer> items = new ReadAhead<>("test", () -> {
            int n = calls.incrementAndGet();
            if (n == 2) secondStarted.countDown();
            return n;
        }, n -> n == 3)) {
            assertEquals(1, items.next());
            // The caller has not asked for item 2 yet: it is being made anyway.
            assertTrue(secondStarted.await(10, TimeUnit.SECONDS), "item 2 was not made ahead");
            assertEquals(2, items.next());
            assertEquals(3, items.next());
        }
    }

    @Test
    void itemsComeInOrderAndNothingIsMadeAfterTheLast() throws InterruptedException {
        AtomicInteger calls = new AtomicInteger();
        try (ReadAhead<Integer> items = new ReadAhead<>("test", calls::incrementAndGet, n -> n == 5)) {
            for (int i = 1; i <= 5; i++) assertEquals(i, items.next());
            Thread.sleep(50);
            assertEquals(5, calls.get(), "made an item after the last one");
            IllegalStateException e = assertThrows(IllegalStateException.class, items::next);
            assertEquals("no item after the last one", e.getMessage());
        }
    }

    @Test
    void anErrorComesAfterTheItemsBeforeItAndEndsTheItems() throws InterruptedException {
        AtomicInteger calls = new AtomicInteger();
        CliException bad = new CliException("stdin line 3: not valid JSON");
        try (ReadAhead<Integer> items = new ReadAhead<>("test", () -> {
            int n = calls.incrementAndGet();
            if (n == 3) throw bad;
            return n;
        }, n -> false)) {
            assertEquals(1, items.next());
            assertEquals(2, items.next());
            assertSame(bad, assertThrows(CliException.class, items::next));
            Thread.sleep(50);
            assertEquals(3, calls.get(), "made an item after one that threw");
            assertThrows(IllegalStateException.class, items::next);
        }
    }

    @Test
    void closeInterruptsTheItemBeingMade() throws InterruptedException {
        CountDownLatch started = new CountDownLatch(1), interrupted = new CountDownLatch(1);
        ReadAhead<Integer> items = new ReadAhead<>("test", () -> {
            started.countDown();
            try {
                new CountDownLatch(1).await();
            } catch (InterruptedException e) {
                interrupted.countDown();
            }
            return 0;
        }, n -> false);
        assertTrue(started.await(10, TimeUnit.SECONDS));
        items.close();
        assertTrue(interrupted.await(10, TimeUnit.SECONDS), "close did not interrupt the item being made");
    }
}
