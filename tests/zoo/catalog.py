"""The zoo: every vision model of kimm and every vision backbone of keras-hub, built offline.

Names are listed here (so collecting the tests imports neither package); `test_zoo_catalog.py`
checks the lists against the packages' own registries, so a new model or backbone class in a
new release fails that test until it is listed. Every model is built with random weights from
constructor arguments only (`weights=None`): nothing is downloaded.

keras-hub backbones take their small configurations from keras-hub's own docstrings and unit
tests (keras_hub/src/models/*/*_backbone_test.py), shrunk where that keeps the structure (fewer
blocks, 32-96 px images) so that the whole tier stays within its time budget.
"""

from __future__ import annotations

from collections.abc import Callable

# Input size for kimm models: small enough to be fast, large enough for every model's stride.
KIMM_IMAGE = (64, 64, 3)
# Models whose architecture needs a larger input: InceptionV3's valid-padded stem needs 75 px;
# kimm's VGGs end in a 7x7 valid convolution (the classifier), so they need 224 px.
KIMM_IMAGE_OVERRIDES = {
    "InceptionV3": (96, 96, 3),
    **{name: (224, 224, 3) for name in ("VGG11", "VGG13", "VGG16", "VGG19")},
}
# kimm models that do not build at all, with the reason (`test_zoo_catalog.py` checks that they
# still fail, so a fixed release brings them into the zoo).
KIMM_DOES_NOT_BUILD = {
    "MobileNetV3W100Large": "kimm 0.2.5 reads `self._weights_url`, which nothing sets: "
    "AttributeError whatever the arguments",
}

# kimm.list_models() of kimm 0.2.5, in its order.
KIMM_MODELS = (
    "ConvMixer1024D20",
    "ConvMixer1536D20",
    "ConvMixer736D32",
    "ConvNeXtAtto",
    "ConvNeXtBase",
    "ConvNeXtFemto",
    "ConvNeXtLarge",
    "ConvNeXtNano",
    "ConvNeXtPico",
    "ConvNeXtSmall",
    "ConvNeXtTiny",
    "ConvNeXtXLarge",
    "DenseNet121",
    "DenseNet161",
    "DenseNet169",
    "DenseNet201",
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "EfficientNetLiteB0",
    "EfficientNetLiteB1",
    "EfficientNetLiteB2",
    "EfficientNetLiteB3",
    "EfficientNetLiteB4",
    "EfficientNetV2B0",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2L",
    "EfficientNetV2M",
    "EfficientNetV2S",
    "EfficientNetV2XL",
    "GhostNetV2W100",
    "GhostNetV2W130",
    "GhostNetV2W160",
    "GhostNetV3W050",
    "GhostNetV3W100",
    "GhostNetV3W130",
    "GhostNetV3W160",
    "GhostNetW050",
    "GhostNetW100",
    "GhostNetW130",
    "HGNetBase",
    "HGNetSmall",
    "HGNetTiny",
    "HGNetV2B0",
    "HGNetV2B1",
    "HGNetV2B2",
    "HGNetV2B3",
    "HGNetV2B4",
    "HGNetV2B5",
    "HGNetV2B6",
    "InceptionNeXtBase",
    "InceptionNeXtSmall",
    "InceptionNeXtTiny",
    "InceptionV3",
    "LCNet035",
    "LCNet050",
    "LCNet075",
    "LCNet100",
    "LCNet150",
    "MobileNetV2W050",
    "MobileNetV2W100",
    "MobileNetV2W110",
    "MobileNetV2W120",
    "MobileNetV2W140",
    "MobileNetV3W050Small",
    "MobileNetV3W075Small",
    "MobileNetV3W100Large",
    "MobileNetV3W100LargeMinimal",
    "MobileNetV3W100Small",
    "MobileNetV3W100SmallMinimal",
    "MobileOneS0",
    "MobileOneS1",
    "MobileOneS2",
    "MobileOneS3",
    "MobileViTS",
    "MobileViTV2W050",
    "MobileViTV2W075",
    "MobileViTV2W100",
    "MobileViTV2W125",
    "MobileViTV2W150",
    "MobileViTV2W175",
    "MobileViTV2W200",
    "MobileViTXS",
    "MobileViTXXS",
    "RegNetX002",
    "RegNetX004",
    "RegNetX006",
    "RegNetX008",
    "RegNetX016",
    "RegNetX032",
    "RegNetX040",
    "RegNetX064",
    "RegNetX080",
    "RegNetX120",
    "RegNetX160",
    "RegNetX320",
    "RegNetY002",
    "RegNetY004",
    "RegNetY006",
    "RegNetY008",
    "RegNetY016",
    "RegNetY032",
    "RegNetY040",
    "RegNetY064",
    "RegNetY080",
    "RegNetY120",
    "RegNetY160",
    "RegNetY320",
    "RepVGGA0",
    "RepVGGA1",
    "RepVGGA2",
    "RepVGGB0",
    "RepVGGB1",
    "RepVGGB2",
    "RepVGGB3",
    "ResNet101",
    "ResNet152",
    "ResNet18",
    "ResNet34",
    "ResNet50",
    "TinyNetA",
    "TinyNetB",
    "TinyNetC",
    "TinyNetD",
    "TinyNetE",
    "VGG11",
    "VGG13",
    "VGG16",
    "VGG19",
    "VisionTransformerBase16",
    "VisionTransformerBase32",
    "VisionTransformerLarge16",
    "VisionTransformerLarge32",
    "VisionTransformerSmall16",
    "VisionTransformerSmall32",
    "VisionTransformerTiny16",
    "VisionTransformerTiny32",
    "Xception",
)


KIMM_ZOO = tuple(name for name in KIMM_MODELS if name not in KIMM_DOES_NOT_BUILD)


def build_kimm(name: str):
    """A kimm model with random weights at a small input size (no download: `weights=None`)."""
    import kimm

    shape = KIMM_IMAGE_OVERRIDES.get(name, KIMM_IMAGE)
    return getattr(kimm.models, name)(input_shape=shape, weights=None)


# ---- keras-hub -------------------------------------------------------------------------------


def _hub():
    import keras_hub

    return keras_hub.models


def _resnet(image_shape=(None, None, 3), block_type="basic_block", pre_activation=False):
    # keras-hub's ResNetBackbone docstring / deeplab_v3 and basnet unit tests.
    return _hub().ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 64, 64],
        stackwise_num_blocks=[2, 2, 2],
        stackwise_num_strides=[1, 2, 2],
        block_type=block_type,
        use_pre_activation=pre_activation,
        image_shape=image_shape,
    )


def resnet_basic_v2():
    return _resnet((64, 64, 3), "basic_block", pre_activation=True)


def resnet_bottleneck_v1():
    return _resnet((64, 64, 3), "bottleneck_block", pre_activation=False)


def cspnet():
    # cspnet_backbone_test.py
    return _hub().CSPNetBackbone(
        stem_filters=32,
        stem_kernel_size=3,
        stem_strides=1,
        stackwise_strides=2,
        stackwise_depth=[1, 2, 8],
        stackwise_num_filters=[16, 24, 48],
        image_shape=(64, 64, 3),
        down_growth=True,
        bottle_ratio=(0.5,) + (1.0,),
        block_ratio=(1.0,) + (0.5,),
        expand_ratio=(2.0,) + (1.0,),
        block_type="dark_block",
        stage_type="csp",
        stem_padding="same",
    )


def _hgnetv2_small(image_shape=(64, 64, 3), out_features=None):
    # HGNetV2Backbone docstring.
    return _hub().HGNetV2Backbone(
        depths=[1, 2, 4],
        embedding_size=32,
        hidden_sizes=[64, 128, 256],
        stem_channels=[3, 16, 32],
        hidden_act="relu",
        use_learnable_affine_block=False,
        stackwise_stage_filters=[
            (32, 16, 64, 1, 1, 3),
            (64, 32, 128, 2, 1, 3),
            (128, 64, 256, 4, 1, 3),
        ],
        apply_downsample=[False, True, True],
        use_lightweight_conv_block=[False, False, False],
        image_shape=image_shape,
        out_features=out_features,
    )


def hgnetv2():
    return _hgnetv2_small()


def hgnetv2_lab_light(**overrides):
    # d_fine_backbone_test.py's encoder: learnable affine blocks and light conv blocks.
    arguments = dict(
        stem_channels=[3, 16, 16],
        stackwise_stage_filters=[
            [16, 16, 64, 1, 3, 3],
            [64, 32, 256, 1, 3, 3],
            [256, 64, 512, 2, 3, 5],
            [512, 128, 1024, 1, 3, 5],
        ],
        apply_downsample=[False, True, True, True],
        use_lightweight_conv_block=[False, False, True, True],
        depths=[1, 1, 2, 1],
        hidden_sizes=[64, 256, 512, 1024],
        embedding_size=16,
        use_learnable_affine_block=True,
        hidden_act="relu",
        image_shape=(64, 64, 3),
    )
    return _hub().HGNetV2Backbone(**{**arguments, **overrides})


def mobilenet_v3():
    # MobileNetBackbone docstring.
    return _hub().MobileNetBackbone(
        stackwise_expansion=[[40, 56], [64, 144, 144], [72, 72], [144, 288, 288]],
        stackwise_num_blocks=[2, 3, 2, 3],
        stackwise_num_filters=[[16, 16], [24, 24, 24], [24, 24], [48, 48, 48]],
        stackwise_kernel_size=[[3, 3], [5, 5, 5], [5, 5], [5, 5, 5]],
        stackwise_num_strides=[[2, 1], [2, 1, 1], [1, 1], [2, 1, 1]],
        stackwise_se_ratio=[[None, None], [0.25, 0.25, 0.25], [0.3, 0.3], [0.3, 0.25, 0.25]],
        stackwise_activation=[
            ["relu", "relu"],
            ["hard_swish", "hard_swish", "hard_swish"],
            ["hard_swish", "hard_swish"],
            ["hard_swish", "hard_swish", "hard_swish"],
        ],
        stackwise_padding=[[1, 1], [2, 2, 2], [2, 2], [2, 2, 2]],
        output_num_filters=288,
        depthwise_filters=8,
        depthwise_stride=2,
        depthwise_residual=False,
        last_layer_filter=288,
        squeeze_and_excite=0.5,
        input_activation="hard_swish",
        output_activation="hard_swish",
        input_num_filters=16,
        image_shape=(64, 64, 3),
    )


def mobilenet_v5():
    # mobilenetv5_backbone_test.py
    return _hub().MobileNetV5Backbone(
        stackwise_block_types=[["er"], ["uir", "uir"]],
        stackwise_num_blocks=[1, 2],
        stackwise_num_filters=[[24], [48, 48]],
        stackwise_strides=[[2], [2, 1]],
        stackwise_act_layers=[["relu"], ["relu", "relu"]],
        stackwise_exp_ratios=[[4.0], [6.0, 6.0]],
        stackwise_se_ratios=[[0.0], [0.0, 0.0]],
        stackwise_dw_kernel_sizes=[[0], [5, 5]],
        stackwise_dw_start_kernel_sizes=[[0], [0, 0]],
        stackwise_dw_end_kernel_sizes=[[0], [0, 0]],
        stackwise_exp_kernel_sizes=[[3], [0, 0]],
        stackwise_pw_kernel_sizes=[[1], [0, 0]],
        stackwise_num_heads=[[0], [0, 0]],
        stackwise_key_dims=[[0], [0, 0]],
        stackwise_value_dims=[[0], [0, 0]],
        stackwise_kv_strides=[[0], [0, 0]],
        stackwise_use_cpe=[[False], [False, False]],
        image_shape=(32, 32, 3),
        stem_size=16,
        use_msfa=False,
    )


def efficientnet_v2_style():
    # efficientnet_backbone_test.py (fused + unfused blocks), fewer repeats.
    return _hub().EfficientNetBackbone(
        stackwise_kernel_sizes=[3, 3, 3, 3, 3, 3],
        stackwise_num_repeats=[1, 2, 2, 2, 2, 2],
        stackwise_input_filters=[24, 24, 48, 64, 128, 160],
        stackwise_output_filters=[24, 48, 64, 128, 160, 256],
        stackwise_expansion_ratios=[1, 4, 4, 4, 6, 6],
        stackwise_squeeze_and_excite_ratios=[0.0, 0.0, 0, 0.25, 0.25, 0.25],
        stackwise_strides=[1, 2, 2, 2, 1, 2],
        stackwise_block_types=["fused"] * 3 + ["unfused"] * 3,
        stackwise_force_input_filters=[0] * 6,
        stackwise_nores_option=[False] * 6,
        width_coefficient=1.0,
        depth_coefficient=1.0,
        input_shape=(64, 64, 3),
    )


def efficientnet_v1_style():
    # efficientnet_backbone_test.py, test_valid_call_original_v1.
    return _hub().EfficientNetBackbone(
        stackwise_kernel_sizes=[3, 3, 5, 3, 5, 5, 3],
        stackwise_num_repeats=[1, 2, 2, 3, 3, 4, 1],
        stackwise_input_filters=[32, 16, 24, 40, 80, 112, 192],
        stackwise_output_filters=[16, 24, 40, 80, 112, 192, 320],
        stackwise_expansion_ratios=[1, 6, 6, 6, 6, 6, 6],
        stackwise_strides=[1, 2, 2, 2, 1, 2, 1],
        stackwise_squeeze_and_excite_ratios=[0.25] * 7,
        stackwise_force_input_filters=[0] * 7,
        stackwise_nores_option=[False] * 7,
        width_coefficient=1.0,
        depth_coefficient=1.0,
        stackwise_block_types=["v1"] * 7,
        min_depth=None,
        include_stem_padding=True,
        use_depth_divisor_as_min_depth=True,
        cap_round_filter_decrease=True,
        stem_conv_padding="valid",
        batch_norm_momentum=0.99,
        input_shape=(64, 64, 3),
    )


def densenet():
    # DenseNetBackbone docstring's structure, fewer repeats.
    return _hub().DenseNetBackbone(stackwise_num_repeats=[2, 2, 2, 2], image_shape=(64, 64, 3))


def vgg():
    # VGGBackbone docstring's structure, narrower.
    return _hub().VGGBackbone(
        stackwise_num_repeats=[2, 2, 3],
        stackwise_num_filters=[16, 32, 64],
        image_shape=(64, 64, 3),
    )


def xception():
    # XceptionBackbone docstring.
    return _hub().XceptionBackbone(
        stackwise_conv_filters=[[32, 64], [64, 128], [256, 256]],
        stackwise_pooling=[True, True, False],
        image_shape=(64, 64, 3),
    )


def _mit(image_shape=(32, 32, 3)):
    # mit_backbone_test.py
    return _hub().MiTBackbone(
        layerwise_depths=[2, 2],
        image_shape=image_shape,
        hidden_dims=[4, 8],
        num_layers=2,
        layerwise_num_heads=[1, 2],
        layerwise_sr_ratios=[8, 4],
        max_drop_path_rate=0.1,
        layerwise_patch_sizes=[7, 3],
        layerwise_strides=[4, 2],
    )


def mit():
    return _mit()


def vit():
    # vit_backbone_test.py
    return _hub().ViTBackbone(
        image_shape=(28, 28, 3),
        patch_size=4,
        num_layers=3,
        hidden_dim=48,
        num_heads=6,
        mlp_dim=48 * 4,
        use_mha_bias=True,
    )


def deit():
    # deit_backbone_test.py
    return _hub().DeiTBackbone(
        image_shape=(28, 28, 3),
        patch_size=4,
        num_layers=3,
        num_heads=6,
        hidden_dim=48,
        intermediate_dim=48 * 4,
        use_mha_bias=True,
    )


def _dinov2(num_layers=2, image_shape=(56, 56, 3)):
    # DINOV2Backbone docstring (random config), smaller image.
    return _hub().DINOV2Backbone(
        patch_size=14,
        num_layers=num_layers,
        hidden_dim=32,
        num_heads=2,
        intermediate_dim=128,
        image_shape=image_shape,
        position_embedding_shape=(518, 518),
    )


def dinov2():
    return _dinov2()


def dinov3():
    # DINOV3Backbone docstring (random config), smaller image.
    return _hub().DINOV3Backbone(
        patch_size=14,
        num_layers=2,
        hidden_dim=32,
        num_heads=2,
        intermediate_dim=128,
        image_shape=(56, 56, 3),
    )


def swin():
    # SwinTransformerBackbone docstring's structure, smaller.
    return _hub().SwinTransformerBackbone(
        image_shape=(32, 32, 3),
        embed_dim=16,
        depths=(2, 2),
        num_heads=(2, 4),
        window_size=4,
        patch_size=4,
    )


def _vitdet(image_size=16, num_layers=2, patch_size=2, window_size=2, channels=2):
    # ViTDetBackbone docstring.
    return _hub().ViTDetBackbone(
        image_shape=(image_size, image_size, 3),
        patch_size=patch_size,
        hidden_size=4 if num_layers == 2 else 16,
        num_layers=num_layers,
        global_attention_layer_indices=[2, 5, 8, 11],
        intermediate_dim=4 * 4 if num_layers == 2 else 16 * 4,
        num_heads=2 if num_layers == 2 else 16,
        num_output_channels=channels,
        window_size=window_size,
    )


def vitdet():
    return _vitdet()


def deeplab_v3():
    # deeplab_v3_backbone_test.py
    return _hub().DeepLabV3Backbone(
        image_encoder=_resnet(),
        low_level_feature_key="P2",
        spatial_pyramid_pooling_key="P4",
        dilation_rates=[6, 12, 18],
        upsampling_size=4,
        image_shape=(96, 96, 3),
    )


def retinanet():
    # retinanet_backbone_test.py's structure with a shallower bottleneck ResNet (its first stage must have 64 filters).
    encoder = _hub().ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 64, 64, 64],
        stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block",
        use_pre_activation=False,
    )
    return _hub().RetinaNetBackbone(
        image_encoder=encoder, min_level=3, max_level=7, use_p5=False, image_shape=(128, 128, 3)
    )


def basnet():
    # basnet_backbone_test.py's structure with a shallower basic-block ResNet.
    encoder = _hub().ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 64, 64, 64],
        stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
    )
    return _hub().BASNetBackbone(image_encoder=encoder, num_classes=1, image_shape=(64, 64, 3))


def segformer():
    # SegFormerBackbone docstring, with mit_backbone_test.py's encoder.
    return _hub().SegFormerBackbone(image_encoder=_mit((32, 32, 3)), projection_filters=8)


def depth_anything():
    # DepthAnythingBackbone docstring, smaller image.
    return _hub().DepthAnythingBackbone(
        image_encoder=_dinov2(num_layers=4, image_shape=(112, 112, 3)),
        reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_dims=[16, 32, 64, 128],
        fusion_hidden_dim=128,
        head_hidden_dim=16,
        head_in_index=-1,
        feature_keys=["stage1", "stage2", "stage3", "stage4"],
    )


def sam():
    # sam_backbone_test.py (its mask decoder's 8 heads leave 0 units per head in this release: 2)
    from keras_hub.src.models.sam.sam_mask_decoder import SAMMaskDecoder
    from keras_hub.src.models.sam.sam_prompt_encoder import SAMPromptEncoder

    image_size = 16
    encoder = _hub().ViTDetBackbone(
        hidden_size=16,
        num_layers=16,
        intermediate_dim=16 * 4,
        num_heads=16,
        global_attention_layer_indices=[2, 5, 8, 11],
        patch_size=16,
        num_output_channels=8,
        window_size=2,
        image_shape=(image_size, image_size, 3),
    )
    prompt_encoder = SAMPromptEncoder(
        hidden_size=8,
        image_embedding_size=(8, 8),
        input_image_size=(image_size, image_size),
        mask_in_channels=16,
    )
    mask_decoder = SAMMaskDecoder(
        num_layers=2,
        hidden_size=8,
        intermediate_dim=32,
        num_heads=2,
        embedding_dim=8,
        num_multimask_outputs=3,
        iou_head_depth=3,
        iou_head_hidden_dim=8,
    )
    return _hub().SAMBackbone(
        image_encoder=encoder, prompt_encoder=prompt_encoder, mask_decoder=mask_decoder
    )


def d_fine():
    # d_fine_backbone_test.py with fewer queries (the encoder is hgnetv2_lab_light's).
    encoder = hgnetv2_lab_light(
        image_shape=(None, None, 3),
        out_features=["stage3", "stage4"],
        data_format="channels_last",
    )
    return _hub().DFineBackbone(
        backbone=encoder,
        decoder_in_channels=[128, 128],
        encoder_hidden_dim=128,
        num_denoising=0,
        num_labels=80,
        hidden_dim=128,
        learn_initial_query=False,
        num_queries=30,
        anchor_image_size=(128, 128),
        feat_strides=[16, 32],
        num_feature_levels=2,
        encoder_in_channels=[512, 1024],
        encode_proj_layers=[1],
        num_attention_heads=8,
        encoder_ffn_dim=512,
        num_encoder_layers=1,
        hidden_expansion=0.34,
        depth_multiplier=0.5,
        eval_idx=-1,
        num_decoder_layers=3,
        decoder_attention_heads=8,
        decoder_ffn_dim=512,
        decoder_n_points=[6, 6],
        lqe_hidden_dim=64,
        num_lqe_layers=2,
        out_features=["stage3", "stage4"],
        image_shape=(128, 128, 3),
        data_format="channels_last",
        seed=0,
    )


def _vision_encoder(cls_name: str):
    # A small configuration in the style of keras-hub's clip/siglip unit tests (4 px patches
    # of a 32 px image, 2 layers).
    def build():
        return getattr(_hub(), cls_name)(
            patch_size=4,
            hidden_dim=16,
            num_layers=2,
            num_heads=2,
            intermediate_dim=32,
            image_shape=(32, 32, 3),
        )

    return build


# Zoo name -> (keras_hub.models class name, builder). A class may have several configurations.
KERAS_HUB_MODELS: dict[str, tuple[str, Callable]] = {
    "ResNetBackbone-basic-v2": ("ResNetBackbone", resnet_basic_v2),
    "ResNetBackbone-bottleneck-v1": ("ResNetBackbone", resnet_bottleneck_v1),
    "CSPNetBackbone": ("CSPNetBackbone", cspnet),
    "HGNetV2Backbone": ("HGNetV2Backbone", hgnetv2),
    "HGNetV2Backbone-lab-light": ("HGNetV2Backbone", hgnetv2_lab_light),
    "MobileNetBackbone": ("MobileNetBackbone", mobilenet_v3),
    "MobileNetV5Backbone": ("MobileNetV5Backbone", mobilenet_v5),
    "EfficientNetBackbone-v2": ("EfficientNetBackbone", efficientnet_v2_style),
    "EfficientNetBackbone-v1": ("EfficientNetBackbone", efficientnet_v1_style),
    "DenseNetBackbone": ("DenseNetBackbone", densenet),
    "VGGBackbone": ("VGGBackbone", vgg),
    "XceptionBackbone": ("XceptionBackbone", xception),
    "MiTBackbone": ("MiTBackbone", mit),
    "ViTBackbone": ("ViTBackbone", vit),
    "DeiTBackbone": ("DeiTBackbone", deit),
    "DINOV2Backbone": ("DINOV2Backbone", dinov2),
    "DINOV3Backbone": ("DINOV3Backbone", dinov3),
    "SwinTransformerBackbone": ("SwinTransformerBackbone", swin),
    "ViTDetBackbone": ("ViTDetBackbone", vitdet),
    "DeepLabV3Backbone": ("DeepLabV3Backbone", deeplab_v3),
    "RetinaNetBackbone": ("RetinaNetBackbone", retinanet),
    "BASNetBackbone": ("BASNetBackbone", basnet),
    "SegFormerBackbone": ("SegFormerBackbone", segformer),
    "DepthAnythingBackbone": ("DepthAnythingBackbone", depth_anything),
    "SAMBackbone": ("SAMBackbone", sam),
    "DFineBackbone": ("DFineBackbone", d_fine),
    "CLIPVisionEncoder": ("CLIPVisionEncoder", _vision_encoder("CLIPVisionEncoder")),
    "MetaCLIP2VisionEncoder": ("MetaCLIP2VisionEncoder", _vision_encoder("MetaCLIP2VisionEncoder")),
    "SigLIPVisionEncoder": ("SigLIPVisionEncoder", _vision_encoder("SigLIPVisionEncoder")),
}

# Backbone classes of keras_hub.models that are not in the zoo, with the reason. Together with
# KERAS_HUB_MODELS this must name every Backbone subclass keras_hub.models exports.
KERAS_HUB_NOT_VISION = {
    "Backbone": "the abstract base class",
    "FeaturePyramidBackbone": "an abstract base class (vision backbones with pyramid outputs)",
    **{
        name: "a text model"
        for name in (
            "AlbertBackbone",
            "BartBackbone",
            "BertBackbone",
            "BloomBackbone",
            "DebertaV3Backbone",
            "DistilBertBackbone",
            "ElectraBackbone",
            "FNetBackbone",
            "FalconBackbone",
            "GPT2Backbone",
            "GPTNeoXBackbone",
            "GemmaBackbone",
            "GptOssBackbone",
            "Llama3Backbone",
            "LlamaBackbone",
            "MistralBackbone",
            "MixtralBackbone",
            "OPTBackbone",
            "Phi3Backbone",
            "Qwen2Backbone",
            "Qwen3Backbone",
            "Qwen3MoeBackbone",
            "QwenBackbone",
            "QwenMoeBackbone",
            "RWKV7Backbone",
            "RobertaBackbone",
            "RoformerV2Backbone",
            "SmolLM3Backbone",
            "SmolLMBackbone",
            "T5Backbone",
            "T5GemmaBackbone",
            "XLMRobertaBackbone",
            "XLNetBackbone",
        )
    },
    "CLIPTextEncoder": "a text model (CLIP's text tower)",
    "MetaCLIP2TextEncoder": "a text model (MetaCLIP 2's text tower)",
    "SigLIPTextEncoder": "a text model (SigLIP's text tower)",
    "ESM2Backbone": "a protein sequence model",
    "ESMBackbone": "a protein sequence model",
    "EdRecBackbone": "a recommendation model",
    "MoonshineBackbone": "a speech model",
    "WhisperBackbone": "a speech model",
    **{
        # Their vision towers that are Backbone classes of their own are in the zoo.
        name: "a multimodal model (image and text inputs)"
        for name in (
            "BLIP2Backbone",
            "CLIPBackbone",
            "Gemma3Backbone",
            "Gemma3nBackbone",
            "Gemma4Backbone",
            "MetaCLIP2Backbone",
            "PaliGemmaBackbone",
            "Qwen3_5Backbone",
            "Qwen3_5MoeBackbone",
            "SAM3PromptableConceptBackbone",
            "SigLIPBackbone",
            "T5Gemma2Backbone",
        )
    },
    "PARSeqBackbone": "a text recognition model (image encoder + autoregressive text decoder)",
    "FluxBackbone": "an image generation (diffusion) model",
    "StableDiffusion3Backbone": "an image generation (diffusion) model",
    "VideoPrismBackbone": "a video model",
}


def build_keras_hub(name: str):
    """A keras-hub backbone of the zoo, with random weights (constructor arguments only)."""
    return KERAS_HUB_MODELS[name][1]()
