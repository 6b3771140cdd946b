//! Capabilities of the container process: which sets get what.
//!
//! Follows Docker and runc: the bounding set is the container's set; uid 0
//! also has it permitted and effective (execve keeps them for root, see
//! capabilities(7) "Capabilities and execution of programs by root"). A
//! non-root `-u` user starts with nothing, except the capabilities named by
//! `--cap-add`: those go in the ambient set, the only one that survives
//! execve for a non-root user, and the kernel accepts an ambient capability
//! only if it is permitted and inheritable too. So the inheritable set is
//! empty unless a non-root user asked for capabilities.

/// The five sets, as masks over capability numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapPlan {
    pub bounding: u64,
    pub permitted: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// The sets for a container with capability set `set` (of which `added`
/// came from --cap-add), running as `uid`, on a kernel whose highest
/// capability is `last_cap`.
pub fn plan(set: u64, added: u64, uid: u32, last_cap: u32) -> CapPlan {
    let known = if last_cap >= 63 { !0 } else { (1u64 << (last_cap + 1)) - 1 };
    let set = set & known;
    if uid == 0 {
        CapPlan { bounding: set, permitted: set, effective: set, inheritable: 0, ambient: 0 }
    } else {
        let a = added & set;
        CapPlan { bounding: set, permitted: a, effective: a, inheritable: a, ambient: a }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use husk_sys::caps::DOCKER_DEFAULT;

    #[test]
    fn root_gets_the_set_and_users_only_what_they_asked() {
        let p = plan(DOCKER_DEFAULT, 0, 0, 40);
        assert_eq!(
            (p.bounding, p.permitted, p.effective, p.inheritable, p.ambient),
            (0xa80425fb, 0xa80425fb, 0xa80425fb, 0, 0)
        );
        let p = plan(DOCKER_DEFAULT, 0, 1000, 40);
        assert_eq!((p.bounding, p.permitted, p.ambient), (0xa80425fb, 0, 0));
        let p = plan(DOCKER_DEFAULT | 1 << 12, 1 << 12, 1000, 40);
        assert_eq!((p.permitted, p.inheritable, p.ambient), (1 << 12, 1 << 12, 1 << 12));
        // A capability the kernel does not know is left out of every set.
        assert_eq!(plan(1 << 40 | 1, 0, 0, 39).bounding, 1);
    }
}
