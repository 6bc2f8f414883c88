//! Why an engine handed control back to its machine's run loop, for either guest.
//!
//! Each guest's engines run guest code until something only the run loop can handle; the
//! [`EngineStop`] they return says what. The instruction-set-specific parts (what a fault
//! is, what a guest asks of its host) are type parameters.

/// Why an engine returned. Produced by a guest's engines (the x86 fast and reference
/// engines), consumed by that guest's run loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineStop<Fault, Event> {
    /// The step budget is spent; the program counter is the next instruction.
    BudgetSpent,
    /// A store hit decoded code; the program counter is the next instruction. The run loop
    /// drops the code written over (`Memory::take_code_writes`) and runs on.
    CodeWritten,
    /// An instruction faulted without changing anything; the program counter is its
    /// address.
    Fault(Fault),
    /// The guest asks for something only the run loop provides (a system call, a halt).
    Event(Event),
}
