//! Who is on the chain, as the chain itself records it: the [`Roster`] of member agencies
//! (Raft node id, address, role, key), whose keys are the only ones every replica accepts
//! entries under. It starts from the bootstrap configuration, which every node must be
//! given alike, and changes only through membership entries.
//!
//! A membership entry is one voter's signature on a [`MembershipChange`]. The change takes
//! effect at the entry that brings the number of distinct current voters who appended the
//! same body to a majority of the voters, so no single agency can add, promote or remove a
//! member. Every replica applies the same rule to the same entries in the same order, so
//! every replica's roster, and the trust bundle derived from it, agree.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::checkpoint::NoteVerifier;
use crate::entry::{MemberRole, MembershipAction, MembershipChange, is_agency_id};
use crate::error::{Error, Result};
use crate::raft::NodeId;
use crate::sign::TrustBundle;
use crate::zip215::{self, PublicKey};

/// One member agency's place in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterMember {
    /// The agency's Raft node id.
    pub node: NodeId,
    /// The agency's chain node address, `host:port`.
    pub addr: String,
    /// Voter or learner.
    pub role: MemberRole,
    /// The agency's ed25519 key, which signs its entries and checkpoints.
    pub key: [u8; 32],
}

/// A change some voters have signed that has not yet reached a majority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    change: MembershipChange,
    /// The voters whose entries carried exactly this change.
    approvals: BTreeSet<String>,
}

/// Why a membership entry is refused. A refused entry refuses its Raft request on every
/// replica alike, so a change cannot be half applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipRefusal {
    /// Only current voters sign membership changes.
    #[error("`{author}` is not a voter of this chain, so it cannot sign a membership change")]
    NotAVoter {
        /// The entry's author.
        author: String,
    },
    /// An agency joins as a learner and is promoted once it has caught up, so that a
    /// voter is never one that cannot yet vote.
    #[error("`{agency}` must join as a learner; promote it once it has caught up")]
    JoinAsVoter {
        /// The joining agency.
        agency: String,
    },
    /// A join for an agency that is already a member.
    #[error("`{agency}` is already a member of this chain")]
    AlreadyMember {
        /// The agency.
        agency: String,
    },
    /// An update or leave for an agency that is not a member.
    #[error("`{agency}` is not a member of this chain")]
    NotAMember {
        /// The agency.
        agency: String,
    },
    /// Node ids are unique and fixed for as long as an agency is a member.
    #[error("node id {node} belongs to `{holder}`")]
    NodeTaken {
        /// The node id asked for.
        node: NodeId,
        /// The member that has it.
        holder: String,
    },
    /// A chain keeps at least one voter.
    #[error("the change would leave the chain without a voter")]
    LastVoter,
    /// The same voter signed the same change twice.
    #[error("`{author}` has already signed this change to `{agency}`")]
    AlreadySigned {
        /// The entry's author.
        author: String,
        /// The agency the change is about.
        agency: String,
    },
    /// The change names no valid agency or address.
    #[error("the change is malformed: {0}")]
    Malformed(String),
    /// The change's key is refused (see [`zip215::check_key`]).
    #[error("the key for `{agency}` is refused: it is {problem}")]
    WeakKey {
        /// The agency.
        agency: String,
        /// What is wrong with the key.
        problem: crate::error::KeyProblem,
    },
}

/// What one membership entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The change has `signed` of the `needed` voter signatures.
    Pending {
        /// Distinct current voters who signed it so far.
        signed: usize,
        /// A majority of the current voters.
        needed: usize,
    },
    /// The change took effect with this entry.
    Effective,
}

/// The chain's members and the keys whose entries it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Roster {
    /// Member agencies, by agency id.
    members: BTreeMap<String, RosterMember>,
    /// Changes signed by some voters, in the order first signed.
    pending: Vec<Pending>,
}

impl Roster {
    /// The roster a chain starts with: its configured voters and learners, each
    /// `(node id, agency, address)`, with their keys from `trust`. Keys of other agencies
    /// in `trust` do not count: every node must start from the same roster, whatever else
    /// its own trust bundle holds.
    pub fn bootstrap<'a>(
        voters: impl IntoIterator<Item = (NodeId, &'a str, &'a str)>,
        learners: impl IntoIterator<Item = (NodeId, &'a str, &'a str)>,
        trust: &TrustBundle,
    ) -> Result<Roster> {
        let mut roster = Roster::default();
        let roles = voters
            .into_iter()
            .map(|m| (m, MemberRole::Voter))
            .chain(learners.into_iter().map(|m| (m, MemberRole::Learner)));
        for ((node, agency, addr), role) in roles {
            let key = trust.get(agency).ok_or_else(|| Error::UnknownAgency {
                agency: agency.to_string(),
            })?;
            roster.members.insert(
                agency.to_string(),
                RosterMember {
                    node,
                    addr: addr.to_string(),
                    role,
                    key: key.to_bytes(),
                },
            );
        }
        Ok(roster)
    }

    /// The member agencies, by agency id.
    pub fn members(&self) -> &BTreeMap<String, RosterMember> {
        &self.members
    }

    /// The member with Raft node id `node`, and its agency.
    pub fn by_node(&self, node: NodeId) -> Option<(&str, &RosterMember)> {
        self.members
            .iter()
            .find(|(_, m)| m.node == node)
            .map(|(a, m)| (a.as_str(), m))
    }

    /// The voters' agency ids.
    pub fn voters(&self) -> impl Iterator<Item = &str> {
        self.members
            .iter()
            .filter(|(_, m)| m.role == MemberRole::Voter)
            .map(|(a, _)| a.as_str())
    }

    /// Whether `agency` is a voter.
    pub fn is_voter(&self, agency: &str) -> bool {
        self.members
            .get(agency)
            .is_some_and(|m| m.role == MemberRole::Voter)
    }

    /// A majority of the voters: how many must sign a membership change.
    pub fn majority(&self) -> usize {
        self.voters().count() / 2 + 1
    }

    /// How many voters must sign a checkpoint: the `configured` k, but at least a
    /// majority of the voters there are now, and never more than all of them.
    pub fn checkpoint_quorum(&self, configured: usize) -> usize {
        configured.max(self.majority()).min(self.voters().count())
    }

    /// The Raft node ids of the voters.
    pub fn voter_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members
            .values()
            .filter(|m| m.role == MemberRole::Voter)
            .map(|m| m.node)
    }

    /// The voters' checkpoint keys.
    pub fn voter_keys(&self) -> Result<Vec<NoteVerifier>> {
        self.members
            .iter()
            .filter(|(_, m)| m.role == MemberRole::Voter)
            .map(|(a, m)| NoteVerifier::new(a, PublicKey::from_bytes(a, &m.key)?))
            .collect()
    }

    /// The trust bundle of the members, the agencies whose entries the chain accepts now.
    pub fn trust(&self) -> Result<TrustBundle> {
        let mut trust = TrustBundle::new();
        for (agency, m) in &self.members {
            trust.insert_bytes(agency, &m.key)?;
        }
        Ok(trust)
    }

    /// The changes still waiting for a majority, each with how many current voters have
    /// signed it.
    pub fn pending(&self) -> impl Iterator<Item = (&MembershipChange, usize)> {
        self.pending.iter().map(|p| {
            let signed = p.approvals.iter().filter(|a| self.is_voter(a)).count();
            (&p.change, signed)
        })
    }

    /// Applies a membership entry `author` signed. On a refusal the roster is unchanged.
    pub fn apply(
        &mut self,
        author: &str,
        change: &MembershipChange,
    ) -> std::result::Result<Outcome, MembershipRefusal> {
        if !self.is_voter(author) {
            return Err(MembershipRefusal::NotAVoter {
                author: author.to_string(),
            });
        }
        self.admissible(change)?;
        let at = match self.pending.iter().position(|p| &p.change == change) {
            Some(at) => at,
            None => {
                self.pending.push(Pending {
                    change: change.clone(),
                    approvals: BTreeSet::new(),
                });
                self.pending.len() - 1
            }
        };
        if !self.pending[at].approvals.insert(author.to_string()) {
            return Err(MembershipRefusal::AlreadySigned {
                author: author.to_string(),
                agency: change.agency.clone(),
            });
        }
        // Signatures of agencies that have since stopped voting no longer count.
        let signed = self.pending[at]
            .approvals
            .iter()
            .filter(|a| self.is_voter(a))
            .count();
        let needed = self.majority();
        if signed < needed {
            return Ok(Outcome::Pending { signed, needed });
        }
        self.pending.remove(at);
        self.take_effect(change);
        Ok(Outcome::Effective)
    }

    /// Whether `change` makes sense against the roster as it is now.
    fn admissible(&self, change: &MembershipChange) -> std::result::Result<(), MembershipRefusal> {
        let agency = &change.agency;
        if !is_agency_id(agency) {
            return Err(MembershipRefusal::Malformed(format!(
                "`{agency}` is not an agency id"
            )));
        }
        let current = self.members.get(agency);
        if let Some((holder, _)) = self
            .by_node(change.node)
            .filter(|(holder, _)| *holder != agency)
        {
            return Err(MembershipRefusal::NodeTaken {
                node: change.node,
                holder: holder.to_string(),
            });
        }
        let voters_after = |role: Option<MemberRole>| {
            self.voters().filter(|v| v != agency).count()
                + usize::from(role == Some(MemberRole::Voter))
        };
        match (change.action, current) {
            (MembershipAction::Join, Some(_)) => {
                return Err(MembershipRefusal::AlreadyMember {
                    agency: agency.clone(),
                });
            }
            (MembershipAction::Join, None) if change.role == MemberRole::Voter => {
                return Err(MembershipRefusal::JoinAsVoter {
                    agency: agency.clone(),
                });
            }
            (MembershipAction::Update | MembershipAction::Leave, None) => {
                return Err(MembershipRefusal::NotAMember {
                    agency: agency.clone(),
                });
            }
            (MembershipAction::Update | MembershipAction::Leave, Some(m))
                if m.node != change.node =>
            {
                return Err(MembershipRefusal::Malformed(format!(
                    "`{agency}` is node {}, not {}",
                    m.node, change.node
                )));
            }
            (MembershipAction::Update, Some(_)) if voters_after(Some(change.role)) == 0 => {
                return Err(MembershipRefusal::LastVoter);
            }
            (MembershipAction::Leave, Some(_)) if voters_after(None) == 0 => {
                return Err(MembershipRefusal::LastVoter);
            }
            _ => {}
        }
        if change.action != MembershipAction::Leave {
            if change.address.is_empty() || change.address.contains(char::is_whitespace) {
                return Err(MembershipRefusal::Malformed(format!(
                    "`{}` is not a chain address",
                    change.address
                )));
            }
            zip215::check_key(&change.public_key).map_err(|problem| {
                MembershipRefusal::WeakKey {
                    agency: agency.clone(),
                    problem,
                }
            })?;
        }
        Ok(())
    }

    fn take_effect(&mut self, change: &MembershipChange) {
        let agency = change.agency.clone();
        match change.action {
            MembershipAction::Join | MembershipAction::Update => {
                self.members.insert(
                    agency.clone(),
                    RosterMember {
                        node: change.node,
                        addr: change.address.clone(),
                        role: change.role,
                        key: change.public_key,
                    },
                );
            }
            MembershipAction::Leave => {
                self.members.remove(&agency);
            }
        }
        // What was signed about this agency before was signed against a roster that is gone.
        self.pending.retain(|p| p.change.agency != agency);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sign::AgencySigner;

    const VOTERS: [&str; 3] = ["bj_hf", "sh_hf", "cd_hf"];

    fn key(i: u8) -> [u8; 32] {
        AgencySigner::from_seed("x", [i; 32])
            .unwrap()
            .verifying_key()
            .to_bytes()
    }

    fn roster() -> Roster {
        let mut trust = TrustBundle::new();
        for (i, a) in VOTERS.iter().enumerate() {
            trust.insert_bytes(a, &key(i as u8 + 1)).unwrap();
        }
        let voters = VOTERS
            .iter()
            .enumerate()
            .map(|(i, a)| (i as u64 + 1, *a, "127.0.0.1:1"));
        Roster::bootstrap(voters, [], &trust).unwrap()
    }

    fn change(action: MembershipAction, role: MemberRole) -> MembershipChange {
        MembershipChange {
            agency: "gz_hf".into(),
            action,
            role,
            public_key: key(9),
            address: "127.0.0.1:7004".into(),
            node: 4,
        }
    }

    #[test]
    fn a_change_takes_effect_only_with_a_majority_of_the_voters() {
        let mut r = roster();
        let join = change(MembershipAction::Join, MemberRole::Learner);
        assert_eq!(
            r.apply("bj_hf", &join),
            Ok(Outcome::Pending {
                signed: 1,
                needed: 2
            })
        );
        assert!(r.members().get("gz_hf").is_none());
        assert!(r.trust().unwrap().get("gz_hf").is_none());
        assert_eq!(
            r.apply("bj_hf", &join),
            Err(MembershipRefusal::AlreadySigned {
                author: "bj_hf".into(),
                agency: "gz_hf".into()
            }),
            "one agency signing twice is still one signature"
        );
        assert_eq!(r.apply("sh_hf", &join), Ok(Outcome::Effective));
        assert_eq!(r.members()["gz_hf"].role, MemberRole::Learner);
        assert!(r.trust().unwrap().get("gz_hf").is_some());
        assert_eq!(r.by_node(4).unwrap().0, "gz_hf");
        assert_eq!(
            r.voter_keys().unwrap().len(),
            3,
            "a learner does not cosign"
        );

        // Promotion: with four members and three voters, two voters are a majority.
        let promote = change(MembershipAction::Update, MemberRole::Voter);
        assert!(matches!(
            r.apply("gz_hf", &promote),
            Err(MembershipRefusal::NotAVoter { .. })
        ));
        r.apply("cd_hf", &promote).unwrap();
        assert_eq!(r.apply("bj_hf", &promote), Ok(Outcome::Effective));
        assert!(r.is_voter("gz_hf"));
        assert_eq!(r.majority(), 3);
        assert_eq!(r.voter_keys().unwrap().len(), 4);

        // Removal now needs three of the four voters.
        let leave = MembershipChange {
            action: MembershipAction::Leave,
            ..promote.clone()
        };
        for v in ["bj_hf", "sh_hf"] {
            assert!(matches!(r.apply(v, &leave), Ok(Outcome::Pending { .. })));
        }
        assert_eq!(r.apply("gz_hf", &leave), Ok(Outcome::Effective));
        assert!(r.members().get("gz_hf").is_none());
        assert!(r.trust().unwrap().get("gz_hf").is_none());
    }

    #[test]
    fn signatures_on_different_changes_do_not_add_up() {
        let mut r = roster();
        let join = change(MembershipAction::Join, MemberRole::Learner);
        let elsewhere = MembershipChange {
            address: "10.0.0.9:7004".into(),
            ..join.clone()
        };
        r.apply("bj_hf", &join).unwrap();
        assert!(matches!(
            r.apply("sh_hf", &elsewhere),
            Ok(Outcome::Pending { signed: 1, .. })
        ));
        assert_eq!(r.pending().count(), 2);
        assert_eq!(r.apply("cd_hf", &join), Ok(Outcome::Effective));
        assert_eq!(r.members()["gz_hf"].addr, "127.0.0.1:7004");
        assert_eq!(
            r.pending().count(),
            0,
            "what was signed against the old roster is dropped"
        );
    }

    #[test]
    fn incoherent_changes_are_refused() {
        let mut r = roster();
        let before = r.clone();
        let join = change(MembershipAction::Join, MemberRole::Learner);
        let refused = |r: &mut Roster, c: &MembershipChange| r.apply("bj_hf", c).unwrap_err();

        assert!(matches!(
            refused(&mut r, &change(MembershipAction::Join, MemberRole::Voter)),
            MembershipRefusal::JoinAsVoter { .. }
        ));
        assert!(matches!(
            refused(&mut r, &change(MembershipAction::Update, MemberRole::Voter)),
            MembershipRefusal::NotAMember { .. }
        ));
        let taken = MembershipChange {
            node: 2,
            ..join.clone()
        };
        assert!(matches!(
            refused(&mut r, &taken),
            MembershipRefusal::NodeTaken { node: 2, .. }
        ));
        let bj_again = MembershipChange {
            agency: "bj_hf".into(),
            node: 1,
            ..join.clone()
        };
        assert!(matches!(
            refused(&mut r, &bj_again),
            MembershipRefusal::AlreadyMember { .. }
        ));
        // The identity point is of small order: under it any signature verifies.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = MembershipChange {
            public_key: identity,
            ..join.clone()
        };
        assert!(matches!(
            refused(&mut r, &weak),
            MembershipRefusal::WeakKey { .. }
        ));
        let nowhere = MembershipChange {
            address: String::new(),
            ..join.clone()
        };
        assert!(matches!(
            refused(&mut r, &nowhere),
            MembershipRefusal::Malformed(_)
        ));
        assert!(matches!(
            r.apply("gz_hf", &join),
            Err(MembershipRefusal::NotAVoter { .. })
        ));
        assert_eq!(r, before, "a refused entry changes nothing");
    }

    #[test]
    fn the_last_voter_cannot_leave_or_be_demoted() {
        let mut trust = TrustBundle::new();
        trust.insert_bytes("bj_hf", &key(1)).unwrap();
        let mut r = Roster::bootstrap([(1, "bj_hf", "127.0.0.1:1")], [], &trust).unwrap();
        let leave = MembershipChange {
            agency: "bj_hf".into(),
            action: MembershipAction::Leave,
            role: MemberRole::Voter,
            public_key: key(1),
            address: "127.0.0.1:1".into(),
            node: 1,
        };
        assert_eq!(r.apply("bj_hf", &leave), Err(MembershipRefusal::LastVoter));
        let demote = MembershipChange {
            action: MembershipAction::Update,
            role: MemberRole::Learner,
            ..leave
        };
        assert_eq!(r.apply("bj_hf", &demote), Err(MembershipRefusal::LastVoter));
    }

    #[test]
    fn a_bootstrap_member_needs_a_key() {
        let trust = TrustBundle::new();
        assert!(matches!(
            Roster::bootstrap([(1, "bj_hf", "127.0.0.1:1")], [], &trust),
            Err(Error::UnknownAgency { .. })
        ));
    }
}
