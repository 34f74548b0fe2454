"""Rigid registration of a case's MRI to its PET (SimpleITK's registration framework).

Mattes mutual information (the images have different contrasts), an Euler transform
initialised on the images' geometric centres, regular-step gradient descent over three
resolution levels (Yaniv et al., "SimpleITK image-analysis notebooks", J Digit Imaging 2018).
The transform maps PET points to MRI points: resampling an MRI image onto the PET grid
through it puts the MRI in PET space.
"""

from __future__ import annotations

import SimpleITK as sitk

from radiomix.errors import ImageGeometryError

HISTOGRAM_BINS = 32
SAMPLING_FRACTION = 0.25
SAMPLING_SEED = 0
ITERATIONS = 300
SHRINK_FACTORS = (4, 2, 1)
SMOOTHING_MM = (4.0, 2.0, 0.0)


def register_rigid(fixed: sitk.Image, moving: sitk.Image, where: str) -> sitk.Euler3DTransform:
    """The rigid transform from ``fixed`` (PET) to ``moving`` (MRI) physical points."""
    result = register(
        fixed,
        moving,
        sitk.Euler3DTransform(),
        sitk.CenteredTransformInitializerFilter.GEOMETRY,
        f"{where}: rigid MRI to PET registration",
    )
    return sitk.Euler3DTransform(result)


def register_similarity(
    fixed: sitk.Image, moving: sitk.Image, where: str
) -> sitk.Similarity3DTransform:
    """Rotation, translation and isotropic scale from ``fixed`` (the case) to ``moving`` (a
    template) physical points, initialised on the images' centres of mass."""
    result = register(
        fixed,
        moving,
        sitk.Similarity3DTransform(),
        sitk.CenteredTransformInitializerFilter.MOMENTS,
        f"{where}: template to case registration",
    )
    return sitk.Similarity3DTransform(result)


def register(
    fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform, initializer: int, what: str
) -> sitk.Transform:
    """Mutual-information registration of ``moving`` onto ``fixed`` with ``transform``."""
    fixed, moving = sitk.Cast(fixed, sitk.sitkFloat32), sitk.Cast(moving, sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(fixed, moving, transform, initializer)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=HISTOGRAM_BINS)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(SAMPLING_FRACTION, SAMPLING_SEED)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-4, numberOfIterations=ITERATIONS
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(SHRINK_FACTORS))
    method.SetSmoothingSigmasPerLevel(list(SMOOTHING_MM))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    try:
        result = method.Execute(fixed, moving)
    except RuntimeError as error:
        raise ImageGeometryError(
            f"{what} failed ({str(error).strip().splitlines()[-1]})"
        ) from error
    return sitk.CompositeTransform(result).GetNthTransform(0)
