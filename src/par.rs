//! Parallel maps over independent work items (processes, checks), results in item order
//! whatever the number of threads, each item on a thread with the binary's deep stack.

/// Stack size of the threads started here (as the binary's main thread, `src/main.rs`):
/// deeply nested input must not overflow on a worker either.
const STACK_BYTES: usize = 256 << 20;

/// How many threads to use for `items` items: the available cores, at most one per item.
pub fn workers(items: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items)
        .max(1)
}

/// `items.iter().map(f)` on up to `workers` threads with deep stacks, results in item
/// order. A thread the OS refuses is simply missing: the others (or this thread) take its
/// items.
pub fn map<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if workers <= 1 || items.len() <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .filter_map(|_| {
                let (next, f) = (&next, &f);
                // As deep a stack as the binary's main thread (src/main.rs): deeply nested
                // input must not overflow here either.
                std::thread::Builder::new()
                    .stack_size(STACK_BYTES)
                    .spawn_scoped(scope, move || {
                        let mut done = Vec::new();
                        loop {
                            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(item) = items.get(k) else { break };
                            done.push((k, f(item)));
                        }
                        done
                    })
                    .ok()
            })
            .collect();
        for h in handles {
            let done = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            for (k, r) in done {
                slots[k] = Some(r);
            }
        }
    });
    slots
        .into_iter()
        .zip(items)
        .map(|(slot, item)| slot.unwrap_or_else(|| f(item)))
        .collect()
}
