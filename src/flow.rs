//! The control-flow helpers of the `async` library the articles use —
//! `series`, `parallel`, `parallelLimit` and `auto` — over promises.
//!
//! A step is a function that starts an operation and returns its promise
//! (callback APIs become such functions with [`promisify`](crate::promisify)).
//! In every helper the first rejection wins: the result promise rejects
//! with it, steps not started yet are never started, and results arriving
//! later are dropped.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use crate::promise::{Promise, Rejection, Resolver};
use crate::Loop;

/// One step of [`series`], [`parallel`] or [`parallel_limit`]: starts an
/// operation and returns its promise.
pub type Step<T> = Box<dyn FnOnce(&mut Loop) -> Promise<T>>;

/// Why a helper refused its input (its promise rejects with this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoError {
    /// `parallel_limit` with a limit of 0 could never run anything.
    ZeroLimit,
    /// Two tasks of an [`Auto`] have this name.
    DuplicateTask(String),
    /// Task `task` depends on `dependency`, which is not a task.
    UnknownDependency {
        /// The task naming the dependency.
        task: String,
        /// The missing name.
        dependency: String,
    },
    /// These tasks depend on each other in a cycle (or on such a cycle).
    Cycle(Vec<String>),
}

impl fmt::Display for AutoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AutoError::ZeroLimit => f.write_str("parallel_limit needs a limit of at least 1"),
            AutoError::DuplicateTask(n) => write!(f, "task {n:?} is defined twice"),
            AutoError::UnknownDependency { task, dependency } => {
                write!(f, "task {task:?} depends on unknown task {dependency:?}")
            }
            AutoError::Cycle(names) => write!(f, "tasks {names:?} depend on each other in a cycle"),
        }
    }
}

impl std::error::Error for AutoError {}

/// Calls a step, turning a panic into a rejected promise.
fn start<T: Clone + 'static>(lp: &mut Loop, f: impl FnOnce(&mut Loop) -> Promise<T>) -> Promise<T> {
    match panic::catch_unwind(AssertUnwindSafe(|| f(lp))) {
        Ok(p) => p,
        Err(payload) => Promise::reject(lp, Rejection::from_panic(payload)),
    }
}

struct Limited<T> {
    waiting: VecDeque<(usize, Step<T>)>,
    results: Vec<Option<T>>,
    left: usize,
    running: usize,
    limit: usize,
    done: Option<Resolver<Vec<T>>>,
}

/// Runs the steps one after another: each starts when the previous one has
/// fulfilled. Fulfils with their values in order.
///
/// ```
/// use nodeloop::{series, Loop, Step};
/// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
/// let steps: Vec<Step<u64>> = vec![
///     Box::new(|lp| lp.set_timeout_promise(30, 1)),
///     Box::new(|lp| { let t = lp.now(); lp.set_timeout_promise(10, t) }),
/// ];
/// let p = series(&mut lp, steps);
/// lp.run_default();
/// assert_eq!(p.peek().unwrap().unwrap(), [1, 30]); // the second started at 30 ms
/// ```
pub fn series<T: Clone + 'static>(lp: &mut Loop, steps: Vec<Step<T>>) -> Promise<Vec<T>> {
    parallel_limit(lp, steps, 1)
}

/// Starts every step at once. Fulfils with their values in input order.
///
/// ```
/// use nodeloop::{parallel, Loop, Step};
/// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
/// let steps: Vec<Step<u64>> = vec![
///     Box::new(|lp| lp.set_timeout_promise(30, 1)),
///     Box::new(|lp| lp.set_timeout_promise(10, 2)),
/// ];
/// let p = parallel(&mut lp, steps);
/// lp.run_default();
/// assert_eq!((p.peek().unwrap().unwrap(), lp.now()), (vec![1, 2], 30));
/// ```
pub fn parallel<T: Clone + 'static>(lp: &mut Loop, steps: Vec<Step<T>>) -> Promise<Vec<T>> {
    parallel_limit(lp, steps, usize::MAX)
}

/// Runs the steps with at most `limit` in flight, starting them in order.
/// Fulfils with their values in input order.
///
/// ```
/// use nodeloop::{parallel_limit, Loop, Step};
/// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
/// let steps: Vec<Step<u64>> = (0..4)
///     .map(|_| Box::new(|lp: &mut Loop| lp.set_timeout_promise(10, 0u64)) as Step<u64>)
///     .collect();
/// let p = parallel_limit(&mut lp, steps, 2);
/// lp.run_default();
/// assert_eq!(lp.now(), 20); // two waves of two
/// assert_eq!(p.peek().unwrap().unwrap().len(), 4);
/// ```
pub fn parallel_limit<T: Clone + 'static>(
    lp: &mut Loop,
    steps: Vec<Step<T>>,
    limit: usize,
) -> Promise<Vec<T>> {
    let (p, r) = Promise::with_resolvers();
    if limit == 0 {
        r.reject(lp, AutoError::ZeroLimit);
        return p;
    }
    let n = steps.len();
    if n == 0 {
        r.resolve(lp, Vec::new());
        return p;
    }
    let state = Rc::new(RefCell::new(Limited {
        waiting: steps.into_iter().enumerate().collect(),
        results: (0..n).map(|_| None).collect(),
        left: n,
        running: 0,
        limit,
        done: Some(r),
    }));
    fill(lp, &state);
    p
}

fn fill<T: Clone + 'static>(lp: &mut Loop, state: &Rc<RefCell<Limited<T>>>) {
    loop {
        let (i, step) = {
            let mut s = state.borrow_mut();
            if s.done.is_none() || s.running >= s.limit {
                return;
            }
            let Some(next) = s.waiting.pop_front() else {
                return;
            };
            s.running += 1;
            next
        };
        let st = state.clone();
        start(lp, step).on_settle(lp, move |lp, outcome| {
            let mut s = st.borrow_mut();
            s.running -= 1;
            if s.done.is_none() {
                return; // an earlier step failed
            }
            match outcome {
                Ok(v) => {
                    s.results[i] = Some(v);
                    s.left -= 1;
                    if s.left == 0 {
                        let all = s.results.drain(..).map(|v| v.expect("filled")).collect();
                        let r = s.done.take().expect("checked above");
                        drop(s);
                        r.resolve(lp, all);
                    } else {
                        drop(s);
                        fill(lp, &st);
                    }
                }
                Err(e) => {
                    s.waiting.clear();
                    let r = s.done.take().expect("checked above");
                    drop(s);
                    r.reject(lp, e);
                }
            }
        });
    }
}

type AutoFn<V> = Box<dyn FnOnce(&mut Loop, &HashMap<String, V>) -> Promise<V>>;

struct AutoTask<V> {
    name: String,
    deps: Vec<String>,
    run: Option<AutoFn<V>>,
}

/// A dependency graph of named tasks, like `async.auto`: each task starts as
/// soon as the tasks it names have fulfilled (tasks without dependencies
/// start at once, in definition order), sees the results so far, and the
/// whole fulfils with every result by name.
///
/// ```
/// use nodeloop::{Auto, Loop, Promise};
/// let mut lp = Loop::builder().virtual_clock(true).build().unwrap();
/// let p = Auto::new()
///     .task("get_data", &[], |lp, _| lp.set_timeout_promise(20, "data".to_string()))
///     .task("make_folder", &[], |lp, _| lp.set_timeout_promise(10, "folder".to_string()))
///     .task("write_file", &["get_data", "make_folder"], |_, r| {
///         Promise::resolve(format!("{} in {}", r["get_data"], r["make_folder"]))
///     })
///     .run(&mut lp);
/// lp.run_default();
/// let results = p.peek().unwrap().unwrap();
/// assert_eq!(results["write_file"], "data in folder");
/// assert_eq!(lp.now(), 20); // the two independent tasks ran in parallel
/// ```
pub struct Auto<V> {
    tasks: Vec<AutoTask<V>>,
}

impl<V> fmt::Debug for Auto<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.tasks.iter().map(|t| (&t.name, &t.deps)))
            .finish()
    }
}

impl<V: Clone + 'static> Default for Auto<V> {
    fn default() -> Self {
        Auto::new()
    }
}

struct AutoRun<V> {
    tasks: Vec<AutoTask<V>>,
    /// Unfinished dependencies per task.
    missing: Vec<usize>,
    /// Tasks waiting for each task.
    dependents: Vec<Vec<usize>>,
    results: HashMap<String, V>,
    left: usize,
    done: Option<Resolver<HashMap<String, V>>>,
}

impl<V: Clone + 'static> Auto<V> {
    /// An empty graph.
    pub fn new() -> Auto<V> {
        Auto { tasks: Vec::new() }
    }

    /// Adds task `name`, to run once every task in `deps` has fulfilled.
    pub fn task(
        mut self,
        name: &str,
        deps: &[&str],
        f: impl FnOnce(&mut Loop, &HashMap<String, V>) -> Promise<V> + 'static,
    ) -> Self {
        self.tasks.push(AutoTask {
            name: name.to_string(),
            deps: deps.iter().map(|d| d.to_string()).collect(),
            run: Some(Box::new(f)),
        });
        self
    }

    /// Checks the graph and starts it. A malformed graph (duplicate name,
    /// unknown dependency, cycle) rejects with [`AutoError`] and runs
    /// nothing.
    pub fn run(self, lp: &mut Loop) -> Promise<HashMap<String, V>> {
        let (p, r) = Promise::with_resolvers();
        let n = self.tasks.len();
        let mut index = HashMap::new();
        for (i, t) in self.tasks.iter().enumerate() {
            if index.insert(t.name.clone(), i).is_some() {
                r.reject(lp, AutoError::DuplicateTask(t.name.clone()));
                return p;
            }
        }
        let mut dependents = vec![Vec::new(); n];
        let mut missing = vec![0; n];
        for (i, t) in self.tasks.iter().enumerate() {
            for d in &t.deps {
                let Some(&j) = index.get(d) else {
                    r.reject(
                        lp,
                        AutoError::UnknownDependency {
                            task: t.name.clone(),
                            dependency: d.clone(),
                        },
                    );
                    return p;
                };
                dependents[j].push(i);
                missing[i] += 1;
            }
        }
        if let Some(cycle) = find_unreachable(&missing, &dependents) {
            let names = cycle
                .into_iter()
                .map(|i| self.tasks[i].name.clone())
                .collect();
            r.reject(lp, AutoError::Cycle(names));
            return p;
        }
        if n == 0 {
            r.resolve(lp, HashMap::new());
            return p;
        }
        let ready: Vec<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
        let state = Rc::new(RefCell::new(AutoRun {
            tasks: self.tasks,
            missing,
            dependents,
            results: HashMap::new(),
            left: n,
            done: Some(r),
        }));
        for i in ready {
            auto_start(lp, &state, i);
        }
        p
    }
}

/// Tasks that can never start (Kahn's algorithm leaves them over).
fn find_unreachable(missing: &[usize], dependents: &[Vec<usize>]) -> Option<Vec<usize>> {
    let mut missing = missing.to_vec();
    let mut ready: Vec<usize> = (0..missing.len()).filter(|&i| missing[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = ready.pop() {
        seen += 1;
        for &d in &dependents[i] {
            missing[d] -= 1;
            if missing[d] == 0 {
                ready.push(d);
            }
        }
    }
    (seen < missing.len()).then(|| (0..missing.len()).filter(|&i| missing[i] > 0).collect())
}

fn auto_start<V: Clone + 'static>(lp: &mut Loop, state: &Rc<RefCell<AutoRun<V>>>, i: usize) {
    let (f, results) = {
        let mut s = state.borrow_mut();
        if s.done.is_none() {
            return;
        }
        let f = s.tasks[i].run.take().expect("each task starts once");
        // A snapshot: the task may run while other results arrive.
        (f, s.results.clone())
    };
    let st = state.clone();
    start(lp, move |lp| f(lp, &results)).on_settle(lp, move |lp, outcome| {
        let mut s = st.borrow_mut();
        if s.done.is_none() {
            return; // an earlier task failed: this result is dropped
        }
        match outcome {
            Ok(v) => {
                let name = s.tasks[i].name.clone();
                s.results.insert(name, v);
                s.left -= 1;
                if s.left == 0 {
                    let r = s.done.take().expect("checked above");
                    let all = std::mem::take(&mut s.results);
                    drop(s);
                    r.resolve(lp, all);
                    return;
                }
                let mut now_ready = Vec::new();
                for d in std::mem::take(&mut s.dependents[i]) {
                    s.missing[d] -= 1;
                    if s.missing[d] == 0 {
                        now_ready.push(d);
                    }
                }
                now_ready.sort_unstable();
                drop(s);
                for d in now_ready {
                    auto_start(lp, &st, d);
                }
            }
            Err(e) => {
                let r = s.done.take().expect("checked above");
                drop(s);
                r.reject(lp, e);
            }
        }
    });
}
