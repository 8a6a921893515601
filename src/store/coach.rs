//! The coach's user rules, kept as JSON specs.

use super::{Store, StoreError};
use crate::coach::rules::RuleSpec;
use rusqlite::params;

impl Store {
    pub fn load_rules(&mut self) -> Result<Vec<RuleSpec>, StoreError> {
        self.stats.queries += 1;
        let mut stmt = self
            .db
            .prepare_cached("SELECT id, spec FROM coach_rules ORDER BY rowid")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for (id, spec) in rows {
            match serde_json::from_str::<RuleSpec>(&spec) {
                Ok(s) => out.push(s),
                Err(e) => {
                    log::warn!("coach rule {id} in the database is unreadable ({e}); skipped")
                }
            }
        }
        Ok(out)
    }

    pub fn save_rule(&mut self, spec: &RuleSpec) -> Result<(), StoreError> {
        let json = serde_json::to_string(spec).unwrap_or_default();
        self.db
            .prepare_cached("INSERT OR REPLACE INTO coach_rules (id, spec) VALUES (?1, ?2)")?
            .execute(params![spec.id, json])?;
        self.stats.transactions += 1;
        self.stats.rows_written += 1;
        Ok(())
    }

    pub fn delete_rules(&mut self, ids: &[String]) -> Result<usize, StoreError> {
        let tx = self.db.transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare_cached("DELETE FROM coach_rules WHERE id = ?1")?;
            for id in ids {
                n += stmt.execute(params![id])?;
            }
        }
        tx.commit()?;
        self.stats.transactions += 1;
        self.stats.rows_written += n as u64;
        Ok(n)
    }
}
