//! Validation of the JSON form. Every error names the JSON path of the problem
//! and what was expected there, with the same wording as the Node oracle.

use super::{Block, Combinator, Op, Scenario, Step};
use serde_json::{Map, Value};
use std::fmt;

/// Why a scenario file was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The text is not JSON at all.
    Json(String),
    /// The JSON does not have the scenario shape.
    Shape {
        /// Where, e.g. `program[2].timeout.ms`.
        path: String,
        /// What was expected or found there.
        problem: String,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Json(e) => write!(f, "invalid JSON: {e}"),
            ParseError::Shape { path, problem } => write!(f, "{path}: {problem}"),
        }
    }
}

impl std::error::Error for ParseError {}

const MAX_BLOCK_MS: f64 = 86_400_000.0;

fn shape(path: &str, problem: impl Into<String>) -> ParseError {
    ParseError::Shape {
        path: path.to_string(),
        problem: problem.into(),
    }
}

impl Scenario {
    /// Parses and validates a scenario; nothing of a malformed one runs.
    ///
    /// ```
    /// use nodeloop::scenario::{ParseError, Scenario};
    /// let err = Scenario::parse(r#"{"program": [{"timeout": {"ms": "x", "do": []}}]}"#);
    /// assert_eq!(err.unwrap_err().to_string(), "program[0].timeout.ms: expected a number");
    /// ```
    pub fn parse(text: &str) -> Result<Scenario, ParseError> {
        let root: Value =
            serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
        let obj = root
            .as_object()
            .ok_or_else(|| shape("(root)", "expected an object"))?;
        // "name" is checked; other top-level keys (e.g. "rule") are documentation.
        let name = match obj.get("name") {
            None => None,
            Some(v) => Some(string(v, "name")?),
        };
        let program = obj
            .get("program")
            .ok_or_else(|| shape("(root)", "missing key \"program\""))?;
        let program = block(program, "program")?;
        check_promise_ids(&program)?;
        Ok(Scenario { name, program })
    }
}

/// Visits every op with its JSON path.
fn walk(
    block: &Block,
    path: &str,
    f: &mut dyn FnMut(&Op, &str) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    for (i, op) in block.iter().enumerate() {
        let at = format!("{path}[{i}]");
        f(op, &at)?;
        let mut sub = |b: &Block, key: &str| walk(b, &format!("{at}.{key}"), f);
        match op {
            Op::NextTick(b) => sub(b, "nextTick")?,
            Op::Microtask(b) => sub(b, "microtask")?,
            Op::Io(b) => sub(b, "io")?,
            Op::Close(b) => sub(b, "close")?,
            Op::Timeout { body, .. } => sub(body, "timeout.do")?,
            Op::Interval { body, .. } => sub(body, "interval.do")?,
            Op::Immediate { body, .. } => sub(body, "immediate.do")?,
            Op::Async { body, .. } => sub(body, "async.do")?,
            Op::Then(steps) => {
                for (k, b) in steps.iter().enumerate() {
                    sub(b, &format!("then[{k}]"))?;
                }
            }
            Op::Chain { steps, .. } => {
                for (k, step) in steps.iter().enumerate() {
                    let (name, b) = match step {
                        Step::Then(b) => ("then", b),
                        Step::Catch(b) => ("catch", b),
                        Step::Finally(b) => ("finally", b),
                    };
                    sub(b, &format!("chain.steps[{k}].{name}"))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A `combine` result is a promise of a list, not of "undefined": it can be
/// awaited and chained on, but not adopted or combined again, so its id may
/// not name any other promise either.
fn check_promise_ids(program: &Block) -> Result<(), ParseError> {
    let mut combined = std::collections::HashSet::new();
    walk(program, "program", &mut |op, _| {
        if let Op::Combine { id, .. } = op {
            combined.insert(id.clone());
        }
        Ok(())
    })?;
    let used = |id: &str, path: String| {
        if combined.contains(id) {
            Err(shape(
                &path,
                format!("\"{id}\" names a combine result, which cannot be used here"),
            ))
        } else {
            Ok(())
        }
    };
    walk(program, "program", &mut |op, at| match op {
        Op::Promise(id) => used(id, format!("{at}.promise")),
        Op::Resolve { with: Some(w), .. } => used(w, format!("{at}.resolve.with")),
        Op::Return(id) => used(id, format!("{at}.return")),
        Op::Chain { id: Some(id), .. } => used(id, format!("{at}.chain.id")),
        Op::Async { id: Some(id), .. } => used(id, format!("{at}.async.id")),
        Op::Combine { of, .. } => of
            .iter()
            .enumerate()
            .try_for_each(|(i, id)| used(id, format!("{at}.combine.of[{i}]"))),
        _ => Ok(()),
    })
}

fn string(v: &Value, path: &str) -> Result<String, ParseError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| shape(path, "expected a string"))
}

fn number(v: &Value, path: &str, min: f64) -> Result<f64, ParseError> {
    let n = v.as_f64().ok_or_else(|| shape(path, "expected a number"))?;
    if n < min {
        return Err(shape(path, format!("expected a number >= {min}")));
    }
    Ok(n)
}

/// Where a block sits, for the ops only allowed at the top level of a chain
/// step or an async body.
#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Plain,
    Step,
    Async,
}

fn block(v: &Value, path: &str) -> Result<Block, ParseError> {
    block_in(v, path, Ctx::Plain)
}

fn block_in(v: &Value, path: &str, ctx: Ctx) -> Result<Block, ParseError> {
    let ops = v
        .as_array()
        .ok_or_else(|| shape(path, "expected an array of ops"))?;
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_op(op, &format!("{path}[{i}]"), ctx))
        .collect()
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ParseError> {
    v.as_object()
        .ok_or_else(|| shape(path, "expected an object"))
}

fn opt_string(o: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, ParseError> {
    o.get(key)
        .map(|v| string(v, &format!("{at}.{key}")))
        .transpose()
}

fn check_keys(obj: &Map<String, Value>, path: &str, required: &[&str]) -> Result<(), ParseError> {
    check_keys_opt(obj, path, required, &["id"])
}

fn check_keys_opt(
    obj: &Map<String, Value>,
    path: &str,
    required: &[&str],
    optional: &[&str],
) -> Result<(), ParseError> {
    for k in required {
        if !obj.contains_key(*k) {
            return Err(shape(path, format!("missing key \"{k}\"")));
        }
    }
    for k in obj.keys() {
        if !optional.contains(&k.as_str()) && !required.contains(&k.as_str()) {
            return Err(shape(&format!("{path}.{k}"), "unknown key"));
        }
    }
    Ok(())
}

fn parse_op(v: &Value, path: &str, ctx: Ctx) -> Result<Op, ParseError> {
    let obj = v
        .as_object()
        .ok_or_else(|| shape(path, "expected an op object"))?;
    if obj.len() != 1 {
        return Err(shape(
            path,
            format!("expected exactly one key, found {}", obj.len()),
        ));
    }
    let (kind, arg) = obj.iter().next().expect("one key");
    let at = format!("{path}.{kind}");
    Ok(match kind.as_str() {
        "log" => Op::Log(string(arg, &at)?),
        "clear" => Op::Clear(string(arg, &at)?),
        "block" => {
            // A longer busy-wait would look like a hang; nobody needs a day.
            let ms = number(arg, &at, 0.0)?;
            if ms > MAX_BLOCK_MS {
                return Err(shape(&at, format!("expected a number <= {MAX_BLOCK_MS}")));
            }
            Op::BusyWait(ms)
        }
        "nextTick" => Op::NextTick(block(arg, &at)?),
        "microtask" => Op::Microtask(block(arg, &at)?),
        "io" => Op::Io(block(arg, &at)?),
        "close" => Op::Close(block(arg, &at)?),
        "then" => {
            let steps = arg
                .as_array()
                .ok_or_else(|| shape(&at, "expected an array of blocks"))?;
            let steps = steps
                .iter()
                .enumerate()
                .map(|(i, b)| block(b, &format!("{at}[{i}]")));
            Op::Then(steps.collect::<Result<_, _>>()?)
        }
        "timeout" | "interval" | "immediate" => {
            let o = arg
                .as_object()
                .ok_or_else(|| shape(&at, "expected an object"))?;
            let required: &[&str] = match kind.as_str() {
                "timeout" => &["ms", "do"],
                "interval" => &["ms", "times", "do"],
                _ => &["do"],
            };
            check_keys(o, &at, required)?;
            let id = match o.get("id") {
                None => None,
                Some(v) => Some(string(v, &format!("{at}.id"))?),
            };
            let body = block(&o["do"], &format!("{at}.do"))?;
            let ms =
                |o: &Map<String, Value>| number(&o["ms"], &format!("{at}.ms"), f64::NEG_INFINITY);
            match kind.as_str() {
                "timeout" => Op::Timeout {
                    ms: ms(o)?,
                    id,
                    body,
                },
                "interval" => {
                    let times = o["times"]
                        .as_u64()
                        .filter(|&t| t >= 1)
                        .or_else(|| {
                            o["times"]
                                .as_f64()
                                .filter(|t| t.fract() == 0.0 && *t >= 1.0)
                                .map(|t| t as u64)
                        })
                        .ok_or_else(|| shape(&format!("{at}.times"), "expected an integer >= 1"))?;
                    Op::Interval {
                        ms: ms(o)?,
                        times,
                        id,
                        body,
                    }
                }
                _ => Op::Immediate { id, body },
            }
        }
        "promise" => Op::Promise(string(arg, &at)?),
        "resolve" | "reject" => {
            let o = object(arg, &at)?;
            let extra = if kind == "resolve" { "with" } else { "reason" };
            check_keys_opt(o, &at, &["id"], &[extra])?;
            let id = string(&o["id"], &format!("{at}.id"))?;
            if kind == "resolve" {
                Op::Resolve {
                    id,
                    with: opt_string(o, "with", &at)?,
                }
            } else {
                Op::Reject {
                    id,
                    reason: opt_string(o, "reason", &at)?.unwrap_or_else(|| "rejected".into()),
                }
            }
        }
        "chain" => {
            let o = object(arg, &at)?;
            check_keys(o, &at, &["on", "steps"])?;
            let on = string(&o["on"], &format!("{at}.on"))?;
            let steps = o["steps"]
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    shape(
                        &format!("{at}.steps"),
                        "expected a non-empty array of steps",
                    )
                })?;
            let steps = steps
                .iter()
                .enumerate()
                .map(|(i, step)| {
                    let sp = format!("{at}.steps[{i}]");
                    let so = step.as_object().filter(|so| so.len() == 1).ok_or_else(|| {
                        shape(
                            &sp,
                            "expected an object with one key: then, catch or finally",
                        )
                    })?;
                    let (k, b) = so.iter().next().expect("one key");
                    let b = block_in(b, &format!("{sp}.{k}"), Ctx::Step)?;
                    match k.as_str() {
                        "then" => Ok(Step::Then(b)),
                        "catch" => Ok(Step::Catch(b)),
                        "finally" => Ok(Step::Finally(b)),
                        _ => Err(shape(&format!("{sp}.{k}"), "unknown step")),
                    }
                })
                .collect::<Result<_, _>>()?;
            Op::Chain {
                on,
                id: opt_string(o, "id", &at)?,
                steps,
            }
        }
        "combine" => {
            let o = object(arg, &at)?;
            check_keys_opt(o, &at, &["id", "kind", "of"], &[])?;
            let kind = match o["kind"].as_str() {
                Some("all") => Combinator::All,
                Some("allSettled") => Combinator::AllSettled,
                Some("race") => Combinator::Race,
                Some("any") => Combinator::Any,
                _ => {
                    return Err(shape(
                        &format!("{at}.kind"),
                        "expected one of all, allSettled, race, any",
                    ))
                }
            };
            let of = o["of"]
                .as_array()
                .ok_or_else(|| shape(&format!("{at}.of"), "expected an array of promise ids"))?;
            let of = of
                .iter()
                .enumerate()
                .map(|(i, v)| string(v, &format!("{at}.of[{i}]")))
                .collect::<Result<_, _>>()?;
            Op::Combine {
                id: string(&o["id"], &format!("{at}.id"))?,
                kind,
                of,
            }
        }
        "async" => {
            let o = object(arg, &at)?;
            check_keys(o, &at, &["do"])?;
            Op::Async {
                id: opt_string(o, "id", &at)?,
                body: block_in(&o["do"], &format!("{at}.do"), Ctx::Async)?,
            }
        }
        "await" => {
            if ctx != Ctx::Async {
                return Err(shape(path, "await outside the top level of an async body"));
            }
            Op::Await(if arg.is_null() {
                None
            } else {
                Some(string(arg, &at)?)
            })
        }
        "throw" | "return" => {
            if ctx == Ctx::Plain {
                return Err(shape(
                    path,
                    format!("{kind} outside the top level of a step or async body"),
                ));
            }
            let text = string(arg, &at)?;
            if kind == "throw" {
                Op::Throw(text)
            } else {
                Op::Return(text)
            }
        }
        other => return Err(shape(path, format!("unknown op \"{other}\""))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn err(text: &str) -> String {
        Scenario::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_path_and_the_expectation() {
        assert_eq!(err("[]"), "(root): expected an object");
        assert_eq!(err("{}"), "(root): missing key \"program\"");
        assert_eq!(
            err(r#"{"program": {}}"#),
            "program: expected an array of ops"
        );
        assert_eq!(
            err(r#"{"program": [1]}"#),
            "program[0]: expected an op object"
        );
        assert_eq!(
            err(r#"{"program": [{"log": "a", "clear": "b"}]}"#),
            "program[0]: expected exactly one key, found 2"
        );
        assert_eq!(
            err(r#"{"program": [{"jump": []}]}"#),
            "program[0]: unknown op \"jump\""
        );
        assert_eq!(
            err(r#"{"program": [{"nextTick": [{"log": 5}]}]}"#),
            "program[0].nextTick[0].log: expected a string"
        );
        assert_eq!(
            err(r#"{"program": [{"block": -1}]}"#),
            "program[0].block: expected a number >= 0"
        );
        assert_eq!(
            err(r#"{"program": [{"timeout": {"do": []}}]}"#),
            "program[0].timeout: missing key \"ms\""
        );
        assert_eq!(
            err(r#"{"program": [{"immediate": {"do": [], "when": 1}}]}"#),
            "program[0].immediate.when: unknown key"
        );
        assert_eq!(
            err(r#"{"program": [{"interval": {"ms": 1, "times": 1.5, "do": []}}]}"#),
            "program[0].interval.times: expected an integer >= 1"
        );
        assert_eq!(
            err(r#"{"program": [{"then": [[], {}]}]}"#),
            "program[0].then[1]: expected an array of ops"
        );
        assert!(err("{").starts_with("invalid JSON: "));
    }

    #[test]
    fn parses_every_op() {
        let s = Scenario::parse(
            r#"{"name": "n", "rule": "doc only", "program": [
                {"log": "a"}, {"nextTick": []}, {"microtask": []}, {"then": [[], []]},
                {"timeout": {"ms": 0.5, "id": "t", "do": []}},
                {"interval": {"ms": 3, "times": 2.0, "do": []}},
                {"immediate": {"do": [{"clear": "t"}]}}, {"io": []}, {"block": 1.5}, {"close": []}
            ]}"#,
        )
        .unwrap();
        assert_eq!(s.name.as_deref(), Some("n"));
        assert_eq!(s.program.len(), 10);
        assert_eq!(
            s.program[5],
            Op::Interval {
                ms: 3.0,
                times: 2,
                id: None,
                body: Rc::from(vec![])
            }
        );
    }
}
