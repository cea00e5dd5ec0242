//! Environment variable names a secret's key must never become on its own:
//! the ones that decide how a process loads, starts, finds its programs and
//! configuration, or whom it talks to.
//!
//! Guards against a secret's writer (anyone who may write secrets, or a
//! hostile backend answering through a flavor) taking over the process
//! that receives the secret as its environment (`flavorbox run`, or a shell
//! that evaluates `secret get --output env`): a key `bash_env`, `path` or
//! `ld_preload` would otherwise run code of the writer's choosing as the
//! operator. The rule is a set of [`Family`] classes matched by exact name,
//! prefix or suffix, not a list of a few names, so a variable of a known
//! kind is caught even if it is not named here one by one. Names are
//! compared without regard to ASCII case (`http_proxy` and `HTTP_PROXY`
//! are read by the same programs).
//!
//! The rule is for a secret's keys. A variable the operator names
//! explicitly (`run --env PATH={{...}}`) is the operator's choice, and the
//! caller decides that; this module only classifies names.

use std::fmt;

/// A class of environment variables a secret's key may not set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// `FLAVORBOX_*`: flavorbox's own credentials and configuration.
    Flavorbox,
    /// `LD_*`, `DYLD_*`, `GLIBC_TUNABLES`, `MALLOC_*`: the dynamic loader and
    /// the C library, read before `main` (`LD_PRELOAD` loads any library).
    DynamicLoader,
    /// `BASH_ENV`, `ENV`, `BASH_*` (`BASH_FUNC_*` functions), `PS1`-`PS4`,
    /// `PROMPT_COMMAND`, `SHELLOPTS`, `IFS`, `CDPATH`, `ZDOTDIR`...: a shell
    /// reads or runs them as it starts or runs a script.
    ShellStartup,
    /// `LANG`, `LANGUAGE`, `LC_*`, `NLSPATH`, `LOCPATH`, `TZ`, `TZDIR`: files
    /// the C library loads (locale data, message catalogs with format
    /// strings, time zone files) and how every program parses and prints.
    Locale,
    /// `PATH` and every name ending in `PATH` (`PYTHONPATH`, `NODE_PATH`,
    /// `CLASSPATH`, `GCONV_PATH`, `GIT_EXEC_PATH`...), and `PERL5LIB`,
    /// `PERLLIB`, `RUBYLIB`: where programs and modules are found.
    SearchPath,
    /// `PYTHON*`, `PERL*`, `RUBY*`, `NODE_OPTIONS`, `JAVA_TOOL_OPTIONS`,
    /// `_JAVA_OPTIONS`, `JDK_JAVA_OPTIONS`, `LUA_*`, `PHPRC`, `NPM_CONFIG_*`,
    /// `GOFLAGS`, `RUSTC_WRAPPER`, .NET start-up hooks...: what an
    /// interpreter or toolchain loads or runs as it starts.
    InterpreterStartup,
    /// `GIT_*` (`GIT_SSH_COMMAND`, `GIT_CONFIG_*`...), `EDITOR`, `VISUAL`,
    /// `PAGER`, `LESS*` (`LESSOPEN`), `BROWSER`, `SSH_ASKPASS`, `RSYNC_RSH`...:
    /// programs a program runs on the user's behalf.
    CommandHook,
    /// `HOME`, `XDG_*`, `TMPDIR`, `SHELL`, `USER`, `PWD`, `OPENSSL_CONF`,
    /// `KUBECONFIG`, `AWS_CONFIG_FILE`, `DOCKER_CONFIG`, `GNUPGHOME`...: where
    /// programs read configuration (which can name programs to run) and
    /// who they believe they are.
    ConfigurationLocation,
    /// `*_PROXY`, `SSL_CERT_FILE`, `SSL_CERT_DIR`, `SSLKEYLOGFILE`,
    /// `REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS`, `DOCKER_HOST`,
    /// `HOSTALIASES`...: whom a program talks to and which certificates it
    /// trusts.
    NetworkTrust,
}

impl Family {
    /// Every family, in the order names are matched.
    pub const ALL: [Family; 9] = [
        Family::Flavorbox,
        Family::DynamicLoader,
        Family::ShellStartup,
        Family::Locale,
        Family::SearchPath,
        Family::InterpreterStartup,
        Family::CommandHook,
        Family::ConfigurationLocation,
        Family::NetworkTrust,
    ];

    /// A short name for messages: "a {label} variable".
    pub fn label(self) -> &'static str {
        match self {
            Family::Flavorbox => "flavorbox configuration",
            Family::DynamicLoader => "dynamic loader",
            Family::ShellStartup => "shell start-up",
            Family::Locale => "locale",
            Family::SearchPath => "search path",
            Family::InterpreterStartup => "interpreter start-up",
            Family::CommandHook => "command hook",
            Family::ConfigurationLocation => "configuration location",
            Family::NetworkTrust => "network trust",
        }
    }

    fn patterns(self) -> &'static [Pattern] {
        use Pattern::{Exact as E, Prefix as P, Suffix as S};
        match self {
            Family::Flavorbox => &[P("FLAVORBOX_")],
            Family::DynamicLoader => &[P("LD_"), P("DYLD_"), E("GLIBC_TUNABLES"), P("MALLOC_")],
            Family::ShellStartup => &[
                E("ENV"),
                P("BASH_"),
                E("BASHOPTS"),
                E("SHELLOPTS"),
                E("PS1"),
                E("PS2"),
                E("PS3"),
                E("PS4"),
                E("PROMPT_COMMAND"),
                E("IFS"),
                E("CDPATH"),
                E("GLOBIGNORE"),
                E("ZDOTDIR"),
                E("INPUTRC"),
                E("HISTFILE"),
                E("POSIXLY_CORRECT"),
            ],
            Family::Locale => &[
                E("LANG"),
                E("LANGUAGE"),
                P("LC_"),
                E("NLSPATH"),
                E("LOCPATH"),
                E("TZ"),
                E("TZDIR"),
            ],
            Family::SearchPath => &[S("PATH"), E("PERL5LIB"), E("PERLLIB"), E("RUBYLIB")],
            Family::InterpreterStartup => &[
                P("PYTHON"),
                P("PERL"),
                P("RUBY"),
                E("NODE_OPTIONS"),
                E("NODE_REPL_EXTERNAL_MODULE"),
                E("JAVA_TOOL_OPTIONS"),
                E("_JAVA_OPTIONS"),
                E("JDK_JAVA_OPTIONS"),
                E("JAVA_HOME"),
                P("LUA_"),
                E("PHPRC"),
                E("PHP_INI_SCAN_DIR"),
                P("NPM_CONFIG_"),
                E("GEM_HOME"),
                E("BUNDLE_GEMFILE"),
                P("R_PROFILE"),
                P("R_ENVIRON"),
                E("GOFLAGS"),
                E("RUSTC_WRAPPER"),
                E("RUSTC_WORKSPACE_WRAPPER"),
                E("DOTNET_STARTUP_HOOKS"),
                P("CORECLR_"),
                P("COR_PROFILER"),
            ],
            Family::CommandHook => &[
                P("GIT_"),
                E("EDITOR"),
                E("VISUAL"),
                E("FCEDIT"),
                E("SUDO_EDITOR"),
                E("PAGER"),
                E("MANPAGER"),
                P("LESS"),
                E("BROWSER"),
                P("SSH_ASKPASS"),
                E("SUDO_ASKPASS"),
                E("SYSTEMD_EDITOR"),
                E("SYSTEMD_PAGER"),
                E("RSYNC_RSH"),
                E("RSYNC_CONNECT_PROG"),
                E("SVN_SSH"),
                E("CVS_RSH"),
            ],
            Family::ConfigurationLocation => &[
                E("HOME"),
                P("XDG_"),
                E("TMPDIR"),
                E("TMP"),
                E("TEMP"),
                E("SHELL"),
                E("USER"),
                E("LOGNAME"),
                E("PWD"),
                E("OLDPWD"),
                E("TERMINFO"),
                E("TERMINFO_DIRS"),
                P("OPENSSL_"),
                E("KUBECONFIG"),
                E("DOCKER_CONFIG"),
                E("AWS_CONFIG_FILE"),
                E("AWS_SHARED_CREDENTIALS_FILE"),
                E("CLOUDSDK_CONFIG"),
                E("GNUPGHOME"),
                E("CURL_HOME"),
                E("WGETRC"),
                E("NETRC"),
                E("PIP_CONFIG_FILE"),
                E("SSH_AUTH_SOCK"),
            ],
            Family::NetworkTrust => &[
                S("_PROXY"),
                E("SSL_CERT_FILE"),
                E("SSL_CERT_DIR"),
                E("SSLKEYLOGFILE"),
                E("REQUESTS_CA_BUNDLE"),
                E("CURL_CA_BUNDLE"),
                E("NODE_EXTRA_CA_CERTS"),
                E("NODE_TLS_REJECT_UNAUTHORIZED"),
                E("DOCKER_HOST"),
                E("DOCKER_TLS_VERIFY"),
                E("HOSTALIASES"),
                E("RES_OPTIONS"),
                E("LOCALDOMAIN"),
            ],
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How a family matches an upper-cased name.
enum Pattern {
    Exact(&'static str),
    Prefix(&'static str),
    Suffix(&'static str),
}

impl Pattern {
    fn matches(&self, upper: &str) -> bool {
        match self {
            Pattern::Exact(name) => upper == *name,
            Pattern::Prefix(prefix) => upper.starts_with(prefix),
            Pattern::Suffix(suffix) => upper.ends_with(suffix),
        }
    }
}

/// The family `name` belongs to, if any (the first in [`Family::ALL`]
/// order): a secret's key must not set such a variable.
pub fn family_of(name: &str) -> Option<Family> {
    let upper = name.to_ascii_uppercase();
    Family::ALL
        .into_iter()
        .find(|family| family.patterns().iter().any(|p| p.matches(&upper)))
}

/// Whether `name` is flavorbox's own (`FLAVORBOX_*`): a process flavorbox
/// starts never inherits one.
pub fn is_flavorbox_own(name: &str) -> bool {
    family_of(name) == Some(Family::Flavorbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn all_in(family: Family, names: &[&str]) {
        for name in names {
            assert_eq!(family_of(name), Some(family), "{name}");
        }
    }

    #[test]
    fn the_loader_and_the_c_library() {
        all_in(
            Family::DynamicLoader,
            &[
                "LD_PRELOAD",
                "LD_LIBRARY_PATH",
                "LD_AUDIT",
                "DYLD_INSERT_LIBRARIES",
                "GLIBC_TUNABLES",
                "MALLOC_CHECK_",
            ],
        );
    }

    #[test]
    fn shell_start_up() {
        all_in(
            Family::ShellStartup,
            &[
                "BASH_ENV",
                "ENV",
                "BASH_FUNC_ls%%",
                "PS4",
                "PROMPT_COMMAND",
                "SHELLOPTS",
                "BASHOPTS",
                "IFS",
                "CDPATH",
                "ZDOTDIR",
            ],
        );
    }

    #[test]
    fn search_paths_by_suffix() {
        all_in(
            Family::SearchPath,
            &[
                "PATH",
                "PYTHONPATH",
                "NODE_PATH",
                "CLASSPATH",
                "GCONV_PATH",
                "GIT_EXEC_PATH",
                "MANPATH",
                "SOME_TOOL_PATH",
                "PERL5LIB",
                "RUBYLIB",
            ],
        );
    }

    #[test]
    fn interpreter_start_up() {
        all_in(
            Family::InterpreterStartup,
            &[
                "PYTHONSTARTUP",
                "PYTHONHOME",
                "PYTHONWARNINGS",
                "NODE_OPTIONS",
                "PERL5OPT",
                "PERL5DB",
                "RUBYOPT",
                "JAVA_TOOL_OPTIONS",
                "_JAVA_OPTIONS",
                "LUA_INIT",
                "DOTNET_STARTUP_HOOKS",
            ],
        );
    }

    #[test]
    fn command_hooks() {
        all_in(
            Family::CommandHook,
            &[
                "GIT_SSH_COMMAND",
                "GIT_CONFIG_COUNT",
                "GIT_ASKPASS",
                "EDITOR",
                "VISUAL",
                "PAGER",
                "LESSOPEN",
                "SSH_ASKPASS",
            ],
        );
    }

    #[test]
    fn configuration_locations_locale_and_network() {
        all_in(
            Family::ConfigurationLocation,
            &[
                "HOME",
                "XDG_CONFIG_HOME",
                "TMPDIR",
                "SHELL",
                "OPENSSL_CONF",
                "KUBECONFIG",
                "AWS_CONFIG_FILE",
            ],
        );
        all_in(
            Family::Locale,
            &["LANG", "LC_ALL", "LANGUAGE", "NLSPATH", "TZ"],
        );
        all_in(
            Family::NetworkTrust,
            &[
                "HTTPS_PROXY",
                "ALL_PROXY",
                "SSL_CERT_FILE",
                "SSLKEYLOGFILE",
                "NODE_EXTRA_CA_CERTS",
                "HOSTALIASES",
            ],
        );
        all_in(
            Family::Flavorbox,
            &[
                "FLAVORBOX_MASTER_KEY",
                "FLAVORBOX_TOKEN",
                "FLAVORBOX_ANYTHING",
            ],
        );
    }

    #[test]
    fn case_does_not_matter() {
        assert_eq!(family_of("http_proxy"), Some(Family::NetworkTrust));
        assert_eq!(family_of("ld_preload"), Some(Family::DynamicLoader));
        assert_eq!(family_of("Path"), Some(Family::SearchPath));
        assert!(is_flavorbox_own("flavorbox_token"));
        assert!(!is_flavorbox_own("MY_FLAVORBOX_TOKEN"));
    }

    /// What secrets usually hold stays usable.
    #[test]
    fn ordinary_secret_names_belong_to_no_family() {
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "DATABASE_URL",
            "DB_PASSWORD",
            "USERNAME",
            "PASSWORD",
            "API_TOKEN",
            "GITHUB_TOKEN",
            "NODE_ENV",
            "SECRET_KEY_BASE",
            "STRIPE_API_KEY",
            "PATHOLOGY_ID",
        ] {
            assert_eq!(family_of(name), None, "{name}");
        }
    }

    #[test]
    fn every_family_has_a_label_and_matches_something() {
        for family in Family::ALL {
            assert!(!family.label().is_empty());
            assert!(!family.patterns().is_empty(), "{family:?}");
        }
    }
}
