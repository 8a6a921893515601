//! Connections: the bounded slab they live in, the generation-checked
//! [`ConnId`] that addresses them, the socket wrapper, the HTTP upgrade and the
//! per-connection state machine.

pub mod conn;
pub mod http;
pub mod sock;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(not(feature = "tls"))]
#[path = "tls_off.rs"]
pub mod tls;

pub use conn::{Conn, ConnState};

use mio::Token;

const _: () = assert!(
    usize::BITS >= 64,
    "tokens pack a 32-bit generation and a 32-bit index"
);

/// Connection generations wrap inside this mask, so `generation << 32` plus
/// an index stays below bit 62 ([`crate::exec::PROC_TOKEN_BIT`]): connection
/// and process tokens are disjoint by construction, whatever the uptime.
/// (It used to take 2^30 reuses of one slot for a connection token to decode
/// as a process token.) 2^29 reuses per slot still make a stale id's match
/// practically impossible.
pub const GENERATION_MASK: u32 = (1 << 29) - 1;

const _: () = assert!(
    ((GENERATION_MASK as usize) << 32 | u32::MAX as usize) + FIRST_CONN_TOKEN
        < crate::exec::PROC_TOKEN_BIT
);

/// Tokens below this are fixed (listener, waker, signals); connection tokens
/// start here.
pub const FIRST_CONN_TOKEN: usize = 16;

/// A slab index plus the generation of the connection that holds it. A timer
/// or a late result carrying the id of a closed connection finds a different
/// generation in the slot and is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub index: u32,
    pub generation: u32,
}

impl ConnId {
    /// The mio token carries the generation too, so a readiness event queued
    /// for a socket that was closed and whose slot was reused in the same poll
    /// batch is recognised as stale.
    pub fn token(self) -> Token {
        Token(((self.generation as usize) << 32 | self.index as usize) + FIRST_CONN_TOKEN)
    }

    pub fn from_token(token: Token) -> Option<ConnId> {
        if token.0 & crate::exec::PROC_TOKEN_BIT != 0 {
            return None;
        }
        let raw = token.0.checked_sub(FIRST_CONN_TOKEN)?;
        Some(ConnId {
            index: (raw & 0xffff_ffff) as u32,
            generation: (raw >> 32) as u32,
        })
    }
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}.{}", self.index, self.generation)
    }
}

struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// Bounded slab of connections.
pub struct ConnTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    capacity: usize,
    len: usize,
}

impl ConnTable {
    pub fn new(capacity: usize) -> Self {
        ConnTable {
            slots: Vec::new(),
            free: Vec::new(),
            capacity,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
    }

    pub fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    /// Reserves a slot and builds the connection with its id. `None` when full.
    pub fn insert_with(&mut self, build: impl FnOnce(ConnId) -> Conn) -> Option<ConnId> {
        if self.is_full() {
            return None;
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    conn: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        let id = ConnId {
            index,
            generation: slot.generation,
        };
        slot.conn = Some(build(id));
        self.len += 1;
        Some(id)
    }

    pub fn get(&self, id: ConnId) -> Option<&Conn> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.conn.as_ref())
            .flatten()
    }

    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.conn.as_mut()
    }

    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let conn = slot.conn.take()?;
        slot.generation = slot.generation.wrapping_add(1) & GENERATION_MASK;
        self.free.push(id.index);
        self.len -= 1;
        Some(conn)
    }

    pub fn ids(&self) -> Vec<ConnId> {
        self.iter().map(|c| c.id).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Conn> {
        self.slots.iter().filter_map(|s| s.conn.as_ref())
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Conn> {
        self.slots.iter_mut().filter_map(|s| s.conn.as_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_token_roundtrip() {
        let id = ConnId {
            index: 7,
            generation: 3,
        };
        assert_eq!(ConnId::from_token(id.token()), Some(id));
        assert_eq!(ConnId::from_token(Token(1)), None);
    }

    /// The last generation before the wrap still yields a connection token,
    /// never a process token; and a process token never decodes as a
    /// connection.
    #[test]
    fn test_conn_and_proc_tokens_are_disjoint() {
        let id = ConnId {
            index: u32::MAX,
            generation: GENERATION_MASK,
        };
        assert_eq!(crate::exec::from_proc_token(id.token()), None);
        assert_eq!(ConnId::from_token(id.token()), Some(id));
        let p = crate::exec::proc_token(1 << 40, crate::exec::Stream::Stderr);
        assert_eq!(ConnId::from_token(p), None);
        assert_eq!(
            GENERATION_MASK.wrapping_add(1) & GENERATION_MASK,
            0,
            "wraps"
        );
    }
}
