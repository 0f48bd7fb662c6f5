//! VMware's "backdoor": the hypervisor answers an `in` from I/O port 0x5658 with the magic
//! value in `eax`, even from user mode. Only VMware traps that port for user mode; anywhere
//! else the instruction faults, so [`backdoor`] is only reachable after [`is_vmware`] saw
//! VMware's CPUID signature.

/// The backdoor's magic value (`VMXh`).
pub const MAGIC: u32 = 0x564D_5868;
/// The low-bandwidth backdoor port.
pub const PORT: u16 = 0x5658;

/// The registers a backdoor call passes and gets back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    /// Magic on the way in, result on the way out.
    pub eax: u32,
    /// Argument / result.
    pub ebx: u32,
    /// Command in the low 16 bits, sub-command in the high 16 bits; status out.
    pub ecx: u32,
    /// Port in the low 16 bits, RPC channel in the high 16 bits.
    pub edx: u32,
    /// RPC cookie, first half.
    pub esi: u32,
    /// RPC cookie, second half.
    pub edi: u32,
}

/// True when the CPUID hypervisor leaf says VMware (`VMwareVMware`).
pub fn is_vmware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        // Leaf 1 ECX bit 31: running under a hypervisor; leaf 0x4000_0000: its vendor.
        let leaf1 = __cpuid(1);
        if leaf1.ecx & (1 << 31) == 0 {
            return false;
        }
        let hv = __cpuid(0x4000_0000);
        let mut vendor = [0u8; 12];
        vendor[..4].copy_from_slice(&hv.ebx.to_le_bytes());
        vendor[4..8].copy_from_slice(&hv.ecx.to_le_bytes());
        vendor[8..].copy_from_slice(&hv.edx.to_le_bytes());
        &vendor == b"VMwareVMware"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One backdoor call. Returns `None` when not on VMware (checked first with
/// [`is_vmware`], so the faulting instruction is never run elsewhere).
pub fn backdoor(regs: Regs) -> Option<Regs> {
    if !is_vmware() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let mut r = regs;
        let mut b = u64::from(r.ebx);
        // SAFETY: `in eax, dx` on port 0x5658 is VMware's documented backdoor; is_vmware()
        // confirmed the hypervisor, which traps the port and only writes the six registers
        // named here (rbx is saved and restored around the call because LLVM reserves it).
        // No memory is read or written.
        unsafe {
            std::arch::asm!(
                "xchg {b:r}, rbx",
                "in eax, dx",
                "xchg {b:r}, rbx",
                b = inout(reg) b,
                inout("eax") r.eax,
                inout("ecx") r.ecx,
                inout("edx") r.edx,
                inout("esi") r.esi,
                inout("edi") r.edi,
                options(nostack, nomem),
            );
        }
        // The backdoor returns 32-bit values; the upper half of rbx is ours.
        r.ebx = (b & 0xffff_ffff) as u32;
        Some(r)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = regs;
        None
    }
}
