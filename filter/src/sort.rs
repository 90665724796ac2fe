//! One small sort for the filter's few sorts (configuration lists, a
//! route's extra claims), in place of the standard library's: each of its
//! sorts, instantiated for one element type, is 4–10 KB of Wasm (pattern
//! defeats, small-sort networks, a heapsort fallback), and the module's
//! five came to about 29 KB, all of it compiled by V8 before the first
//! request (BENCHMARKS.md, "One sort of our own"). The lists sorted here
//! hold at most a few thousand names, and only a route's extra claims are
//! sorted per request (a handful).

use std::cmp::Ordering;

/// Sorts `items` by `compare`, not stably (equal items may change places):
/// a heapsort, `O(n log n)` comparisons whatever the input, no allocation.
pub fn sort_unstable_by<T>(items: &mut [T], mut compare: impl FnMut(&T, &T) -> Ordering) {
    let mut less = |a: &T, b: &T| compare(a, b) == Ordering::Less;
    // A max-heap over the whole slice, then the largest item moved behind
    // the shrinking heap until one is left.
    for root in (0..items.len() / 2).rev() {
        sift_down(items, root, &mut less);
    }
    for end in (1..items.len()).rev() {
        items.swap(0, end);
        if let Some(heap) = items.get_mut(..end) {
            sift_down(heap, 0, &mut less);
        }
    }
}

/// Sorts `items` by their own order, not stably.
pub fn sort_unstable<T: Ord>(items: &mut [T]) {
    sort_unstable_by(items, T::cmp);
}

/// Moves the item at `root` down `heap` until neither child is larger.
fn sift_down<T>(heap: &mut [T], mut root: usize, less: &mut impl FnMut(&T, &T) -> bool) {
    loop {
        let left = 2 * root + 1;
        let Some(left_item) = heap.get(left) else {
            return;
        };
        let child = match heap.get(left + 1) {
            Some(right_item) if less(left_item, right_item) => left + 1,
            _ => left,
        };
        match (heap.get(root), heap.get(child)) {
            (Some(parent), Some(larger)) if less(parent, larger) => {
                heap.swap(root, child);
                root = child;
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorts_what_the_filter_sorts() {
        let mut names = vec!["x-b", "x-a", "x-c", "x-a", ""];
        sort_unstable(&mut names);
        assert_eq!(names, ["", "x-a", "x-a", "x-b", "x-c"]);
        let mut pairs = vec![("b", 1), ("a", 2), ("c", 3)];
        sort_unstable_by(&mut pairs, |(a, _), (b, _)| a.cmp(b));
        assert_eq!(pairs, [("a", 2), ("b", 1), ("c", 3)]);
        let mut empty: Vec<u8> = Vec::new();
        sort_unstable(&mut empty);
        assert!(empty.is_empty());
    }

    proptest! {
        /// The same order as the standard library's sort, for any list
        /// (duplicates, sorted and reversed runs among them).
        #[test]
        fn agrees_with_the_standard_sort(mut items in proptest::collection::vec(0u8..16, 0..200)) {
            let mut expected = items.clone();
            expected.sort_unstable();
            sort_unstable(&mut items);
            prop_assert_eq!(items, expected);
        }
    }
}
