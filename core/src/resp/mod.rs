//! RESP: the request parser (RESP2 multibulk and inline) and the reply encoder
//! (RESP2 and RESP3). Pure byte work: no sockets, no allocation from declared lengths.

pub mod parser;
pub mod reply;

pub use parser::{ParseLimits, ProtocolError, Request, RequestParser};
pub use reply::{Proto, ReplyBuf};
