//! README's "Configuration" table is what the code reads: every variable a
//! service's `Config` asks for is a row, with the services that read it, and
//! every row is a variable some service reads.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use shared::config::Source;

/// A source with nothing set that notes every variable asked for.
#[derive(Default)]
struct Asked(RefCell<BTreeSet<String>>);

impl Source for Asked {
    fn get(&self, key: &str) -> Option<String> {
        self.0.borrow_mut().insert(key.to_string());
        None
    }
}

fn asked(read: impl FnOnce(&Asked)) -> BTreeSet<String> {
    let asked = Asked::default();
    read(&asked);
    let mut names = asked.0.into_inner();
    // Read by every service at start, outside `Config`.
    names.insert(shared::telemetry::LOG_FILTER.to_string());
    names
}

#[test]
fn the_configuration_table_is_what_the_services_read() {
    let front = asked(|source| {
        front::Config::from_source(source).expect("defaults");
        shared::config::log_format(source).expect("default");
    });
    let backends = asked(|source| {
        backend::Config::from_source(source).expect("defaults");
        shared::config::log_format(source).expect("default");
    });
    let mut expected = BTreeMap::new();
    for name in front.union(&backends) {
        let services = match (front.contains(name), backends.contains(name)) {
            (true, true) => "all",
            (true, false) => "front",
            _ => "aleph, beth",
        };
        expected.insert(name.clone(), services.to_string());
    }

    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let table = readme
        .split("\n## Configuration\n")
        .nth(1)
        .and_then(|section| section.split("\n## ").next())
        .expect("README has a Configuration section");
    let documented: BTreeMap<String, String> = table
        .lines()
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_string(), cells.get(2)?.to_string()))
        })
        .collect();
    assert_eq!(
        documented, expected,
        "README's Configuration table (left), the code (right)"
    );
}
