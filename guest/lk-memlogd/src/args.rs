//! Go `flag`-style options (`-name value`, `--name value`, `-name=value`, bools alone), as
//! LinuxKit's memlogd, logread and logwrite take them.

/// What [`Flags::parse`] returns for `-h`, `-help` or `--help`: [`main_with`] then prints
/// the usage and exits 0, as Go's `flag` package does.
pub const HELP: &str = "help requested";

/// Runs a program's `run(args)` (args without argv[0]); an error is printed as
/// `<program>: <error>` and gives status 1, `Ok(code)` is the exit status. A help request
/// prints `usage` (the flags, one per line) to stderr and gives status 0.
pub fn main_with(
    program: &str,
    usage: &str,
    run: impl FnOnce(&[String]) -> Result<u8, String>,
) -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) if e == HELP => {
            use std::io::Write;
            let _ = write!(std::io::stderr(), "Usage of {program}:\n{usage}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{program}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Parsed options and the remaining arguments.
#[derive(Debug, Default)]
pub struct Flags {
    /// `(name, value)`; bools have `"true"`.
    pub values: Vec<(String, String)>,
    /// Arguments after the options.
    pub rest: Vec<String>,
}

impl Flags {
    /// Parses `args` (without argv[0]); `bools` take no value. Stops at the first non-option.
    pub fn parse(args: &[String], bools: &[&str]) -> Result<Flags, String> {
        let mut f = Flags::default();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if a == "--" {
                f.rest = args[i + 1..].to_vec();
                return Ok(f);
            }
            let Some(name) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
                break;
            };
            if name.is_empty() {
                break;
            }
            if (name == "h" || name == "help") && !bools.contains(&name) {
                return Err(HELP.to_owned());
            }
            if let Some((n, v)) = name.split_once('=') {
                f.values.push((n.to_owned(), v.to_owned()));
            } else if bools.contains(&name) {
                f.values.push((name.to_owned(), "true".to_owned()));
            } else {
                let v = args
                    .get(i + 1)
                    .ok_or_else(|| format!("flag needs an argument: -{name}"))?;
                f.values.push((name.to_owned(), v.clone()));
                i += 1;
            }
            i += 1;
        }
        f.rest = args[i..].to_vec();
        Ok(f)
    }

    /// The last value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric option.
    pub fn number(&self, name: &str, default: usize) -> Result<usize, String> {
        self.get(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| format!("invalid value {v:?} for flag -{name}"))
        })
    }

    /// A bool option.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v == "true" || v == "1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn go_flag_forms() {
        let f = Flags::parse(
            &s(&["-n", "svc", "--socket=/x", "-F", "echo", "-n", "hi"]),
            &["F"],
        )
        .unwrap();
        assert_eq!(f.get("n"), Some("svc"));
        assert_eq!(f.get("socket"), Some("/x"));
        assert!(f.flag("F"));
        assert_eq!(f.rest, s(&["echo", "-n", "hi"]));
        assert!(Flags::parse(&s(&["-n"]), &[]).is_err());
        for help in ["-h", "-help", "--help"] {
            assert_eq!(Flags::parse(&s(&[help]), &[]).unwrap_err(), HELP);
        }
        assert_eq!(
            Flags::parse(&s(&["-max-lines", "x"]), &[])
                .unwrap()
                .number("max-lines", 1)
                .unwrap_err(),
            "invalid value \"x\" for flag -max-lines"
        );
    }
}
