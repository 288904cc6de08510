// What flows between the halves of the Faster R-CNN model: the transformed image batch that
// enters the backbone, and the feature maps that leave it for the RPN and the RoI heads.
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace vision::train::faster_rcnn {

// Feature maps from the FPN, finest first, with torchvision's names ("0","1","2","3","pool" for
// ResNet FPNs; "0","1","pool" for mobilenet_v3_large_fpn), every map with 256 channels.
struct FeatureMaps {
  std::vector<std::string> names;
  std::vector<torch::Tensor> maps;
};

// Images after the transform: a padded batch [N,3,H,W] plus each image's size after resizing.
struct ImageBatch {
  torch::Tensor tensors;
  std::vector<std::array<int64_t, 2>> sizes;  // {h, w}
};

}  // namespace vision::train::faster_rcnn
