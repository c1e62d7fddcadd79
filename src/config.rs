//! Settings. SKELETON
