//! `sluice chain`: the audit chain's members. A chain officer signs a change through their
//! own gateway, in their agency's name; it takes effect once a majority of the voters
//! have signed the same change.

use base64::Engine as _;
use sluice_proto::v1::{self, membership_request::Action};

use super::login::HomeGateway as Gateway;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Sign the joining of a new agency, as a learner.
    AddMember {
        #[command(flatten)]
        gateway: Gateway,
        /// The joining agency.
        #[arg(long)]
        agency: String,
        /// Its Raft node id, unused by any member.
        #[arg(long)]
        node: u64,
        /// Its chain node's `host:port`.
        #[arg(long)]
        address: String,
        /// Its ed25519 public key: the content of its `<agency>.pub` (base64).
        #[arg(long, value_name = "BASE64")]
        public_key: String,
    },
    /// Sign the promotion of a learner to voter.
    Promote {
        #[command(flatten)]
        gateway: Gateway,
        agency: String,
    },
    /// Sign the demotion of a voter to learner.
    Demote {
        #[command(flatten)]
        gateway: Gateway,
        agency: String,
    },
    /// Sign the removal of a member.
    Remove {
        #[command(flatten)]
        gateway: Gateway,
        agency: String,
    },
    /// The chain's members and the changes waiting for signatures.
    Members {
        #[command(flatten)]
        gateway: Gateway,
    },
}

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    let (gateway, request) = match cmd {
        Command::Members { gateway } => return members(&gateway).await,
        Command::AddMember {
            gateway,
            agency,
            node,
            address,
            public_key,
        } => {
            let key = base64::engine::general_purpose::STANDARD
                .decode(public_key.trim())
                .map_err(|e| anyhow::anyhow!("--public-key is not base64: {e}"))?;
            let request = v1::MembershipRequest {
                action: Action::Join as i32,
                agency,
                node,
                address,
                public_key: key,
            };
            (gateway, request)
        }
        Command::Promote { gateway, agency } => (gateway, change(Action::Promote, agency)),
        Command::Demote { gateway, agency } => (gateway, change(Action::Demote, agency)),
        Command::Remove { gateway, agency } => (gateway, change(Action::Remove, agency)),
    };
    let client = gateway.client().await?;
    let agency = request.agency.clone();
    let resp = client.propose_membership(request).await?;
    if resp.effective {
        println!(
            "signed (entry {}); the change to `{agency}` has taken effect",
            resp.index
        );
    } else {
        println!(
            "signed (entry {}); {} of the {} voter signatures it needs so far",
            resp.index, resp.signed, resp.needed
        );
    }
    Ok(())
}

fn change(action: Action, agency: String) -> v1::MembershipRequest {
    v1::MembershipRequest {
        action: action as i32,
        agency,
        ..Default::default()
    }
}

async fn members(gateway: &Gateway) -> anyhow::Result<()> {
    let client = gateway.client().await?;
    let resp = client.chain_members().await?;
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["agency", "node", "address", "role"]);
    for m in &resp.members {
        table.add_row([
            m.agency.clone(),
            m.node.to_string(),
            m.address.clone(),
            m.role.clone(),
        ]);
    }
    println!("{table}");
    for p in &resp.pending {
        println!(
            "pending: {} `{}` as {}, {} of {} voter signatures",
            p.action, p.agency, p.role, p.signed, p.needed
        );
    }
    Ok(())
}
