//! Complete models from the course.

mod feedforward;

pub use feedforward::FeedForwardNet;
