//! Getting an acknowledgement sentence from the user: `--ack TEXT`, or typed at a terminal.
//! Without a terminal and without `--ack`, the command refuses (exit 4). Whether the text is
//! right is the core's decision (`StageOneAck::verify`, `StageTwoAck::verify`).

use std::io::{BufRead, IsTerminal, Write};

use crate::exit::{CliError, ExitStatus};

/// The text the user acknowledged with.
///
/// # Errors
/// Exit 4 when no `--ack` was given and there is no terminal to ask on, or the prompt could not
/// be read.
pub fn obtain(given: Option<&str>, sentence: &str, what: &str) -> Result<String, CliError> {
    if let Some(text) = given {
        return Ok(text.to_owned());
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !interactive {
        return Err(CliError::new(
            ExitStatus::Refused,
            format!("{what} needs an acknowledgement and there is no terminal to ask on; nothing was done"),
        )
        .hint(format!("pass --ack \"{sentence}\"")));
    }
    let mut err = anstream::stderr().lock();
    let _ = write!(
        err,
        "{what} needs your acknowledgement. Type this sentence exactly, then Enter:\n\n  {sentence}\n\n> "
    );
    let _ = err.flush();
    drop(err);
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        CliError::from_error(ExitStatus::Refused, &e).context("could not read the acknowledgement")
    })?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
