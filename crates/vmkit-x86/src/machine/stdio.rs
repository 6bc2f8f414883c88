//! The guest's standard streams as the embedder sees them: captured stdout, scripted stdin.

use super::X86Machine;

impl X86Machine {
    /// Keeps guest stdout in memory (read it with [`X86Machine::output`]).
    pub fn capture_output(&mut self) {
        self.os.capture_stdout();
    }

    /// Captured stdout.
    pub fn output(&self) -> &[u8] {
        self.os.captured_stdout()
    }

    /// Guest stdin reads these bytes, then end of file.
    pub fn set_stdin(&mut self, bytes: &[u8]) {
        self.os.set_stdin(bytes);
    }
}
