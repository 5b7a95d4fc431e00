//! Registering a VM with systemd-machined, as systemd-vmspawn does, so
//! `machinectl list`, `status`, `poweroff` and `terminate` know the nodes.
//!
//! machined derives the machine's unit from the leader's cgroup and forgets
//! the machine when that unit stops, also when the VM is killed.

use anyhow::Context;
use zbus::blocking::Connection;
use zbus::zvariant::OwnedObjectPath;

/// machined's class for virtual machines (the other is "container").
const CLASS_VM: &str = "vm";
/// Shown by `machinectl status` as the service that registered the machine.
const SERVICE: &str = "coreos-cluster";

#[zbus::proxy(
    interface = "org.freedesktop.machine1.Manager",
    default_service = "org.freedesktop.machine1",
    default_path = "/org/freedesktop/machine1",
    gen_async = false
)]
trait Machined {
    #[allow(clippy::too_many_arguments)]
    fn register_machine_with_network(
        &self,
        name: &str,
        id: &[u8],
        service: &str,
        class: &str,
        leader: u32,
        root_directory: &str,
        ifindices: &[i32],
    ) -> zbus::Result<OwnedObjectPath>;
    fn unregister_machine(&self, name: &str) -> zbus::Result<()>;
}

/// Registers machine `name` (class vm) led by `leader`, with its tap.
///
/// A machine of that name left over from before (a restart faster than
/// machined noticed the old leader go) is replaced.
pub fn register(name: &str, leader: u32, tap_ifindex: i32) -> anyhow::Result<()> {
    let connection = Connection::system().context("connecting to the system bus")?;
    let machined = MachinedProxy::new(&connection).context("talking to systemd-machined")?;
    // An empty id: machined has no use for one, and a VM has no /etc/machine-id of ours.
    let register = || {
        machined.register_machine_with_network(
            name,
            &[],
            SERVICE,
            CLASS_VM,
            leader,
            "",
            &[tap_ifindex],
        )
    };
    match register() {
        Ok(_) => Ok(()),
        Err(zbus::Error::MethodError(error, _, _))
            if error.as_str() == "org.freedesktop.machine1.MachineExists" =>
        {
            machined
                .unregister_machine(name)
                .with_context(|| format!("replacing the stale machine {name}"))?;
            register()
                .map(|_| ())
                .with_context(|| format!("registering machine {name} with systemd-machined"))
        }
        Err(err) => {
            Err(err).with_context(|| format!("registering machine {name} with systemd-machined"))
        }
    }
}
