//! Train/test splits and k-fold. (Being written.)
