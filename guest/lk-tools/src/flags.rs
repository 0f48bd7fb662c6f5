//! Go-style flags, as LinuxKit's Go tools take them: one or two dashes, `-flag value` or
//! `-flag=value`, repeatable; `--` or the first non-flag ends them.

/// Parsed flags in command-line order, and the arguments after them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// (name, value); a boolean flag has the value "true".
    pub flags: Vec<(String, String)>,
    /// The rest.
    pub args: Vec<String>,
}

impl Flags {
    /// Parses `argv` (without the program name). `valued` flags take a value, `boolean`
    /// ones none; anything else is an error naming the flag.
    pub fn parse(
        argv: impl IntoIterator<Item = String>,
        valued: &[&str],
        boolean: &[&str],
    ) -> Result<Flags, String> {
        let mut out = Flags::default();
        let mut it = argv.into_iter();
        while let Some(a) = it.next() {
            if a == "--" {
                out.args.extend(it.by_ref());
                break;
            }
            if !a.starts_with('-') || a == "-" {
                out.args.push(a);
                out.args.extend(it.by_ref());
                break;
            }
            let flag = a.trim_start_matches('-');
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (flag, None),
            };
            if valued.contains(&name) {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .ok_or_else(|| format!("flag needs an argument: -{name}"))?,
                };
                out.flags.push((name.to_owned(), v));
            } else if boolean.contains(&name) {
                out.flags
                    .push((name.to_owned(), inline.unwrap_or_else(|| "true".to_owned())));
            } else {
                return Err(format!("flag provided but not defined: -{name}"));
            }
        }
        Ok(out)
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The last value of `name`.
    pub fn last(&self, name: &str) -> Option<&str> {
        self.all(name).last().copied()
    }

    /// Whether boolean `name` is set.
    pub fn on(&self, name: &str) -> bool {
        self.last(name).is_some_and(|v| v == "true" || v == "1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style() {
        let a = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let f = Flags::parse(
            a("-inport 1:unix:/a --inport=2:unix:/b -detach -- x y"),
            &["inport"],
            &["detach"],
        )
        .unwrap();
        assert_eq!(f.all("inport"), ["1:unix:/a", "2:unix:/b"]);
        assert!(f.on("detach"));
        assert_eq!(f.args, ["x", "y"]);
        assert!(
            Flags::parse(a("-nope"), &[], &[])
                .unwrap_err()
                .contains("-nope")
        );
        assert!(Flags::parse(a("-inport"), &["inport"], &[]).is_err());
    }
}
