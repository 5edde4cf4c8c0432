package distilbert.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The host side of the deterministic embedding scatter: tokens grouped by id, in token order, padding left out. Needs no GPU. */
class RowGroupsTest {

    @Test
    void groupsTokensByIdInTokenOrderWithoutTheSkippedId() {
        int[] ids = {5, 0, 7, 5, 2, 0, 5, 7, 99};
        TrainingKernels.RowGroups g = TrainingKernels.RowGroups.of(ids, 8, 0); // the 9th id is past n
        assertArrayEquals(new int[] {2, 5, 7}, g.rows());
        assertArrayEquals(new int[] {0, 1, 4, 6}, g.starts());
        assertArrayEquals(new int[] {4, 0, 3, 6, 2, 7}, g.order());
        assertEquals(3, g.groups());
    }

    @Test
    void noSkipAndNothingLeft() {
        TrainingKernels.RowGroups all = TrainingKernels.RowGroups.of(new int[] {3, 3, 1}, 3, -1);
        assertArrayEquals(new int[] {1, 3}, all.rows());
        assertArrayEquals(new int[] {2, 0, 1}, all.order());
        TrainingKernels.RowGroups none = TrainingKernels.RowGroups.of(new int[] {0, 0}, 2, 0);
        assertEquals(0, none.groups());
        assertArrayEquals(new int[] {0}, none.starts());
    }
}
