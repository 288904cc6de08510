// The train/val rule for a labeled folder, one rule for every place that splits one: autolabel's
// and `vision labels import`'s train.txt/val.txt, and the Faster R-CNN trainer's flat folders.
#pragma once

#include <string>
#include <vector>

namespace vision {

// True when the item lands in val for this fraction: a hash of its key (an image's path below
// images/), so an item's side never changes when others are added or removed.
bool in_val_split(const std::string& key, double val_fraction);

// in_val_split for each key, except that training needs both splits: with two or more keys and a
// fraction above 0, when the hash leaves one side empty the last key of the other moves over.
std::vector<bool> val_split(const std::vector<std::string>& keys, double val_fraction);

}  // namespace vision
